"""Triage: label new issues, pull requests and discussions (flow, decisions, model access)."""
