"""Steward's web process: webhook receiver, setup flow, settings and the ``steward`` CLI."""
