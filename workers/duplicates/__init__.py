"""Possible duplicates of new issues, gated on the repository's own history (issue 27)."""
