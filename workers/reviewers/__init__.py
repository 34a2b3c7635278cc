"""Reviewer suggestions, people for issues and the review history (flows and decisions)."""
