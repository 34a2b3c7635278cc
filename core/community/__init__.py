"""A repository's community numbers, shared by the dashboard (web process) and the
weekly digest (workers): :mod:`core.community.stats` computes them from rows (pure),
:mod:`core.community.reads` reads those rows from the store.
"""
