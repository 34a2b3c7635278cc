"""Steward's ML library: encoders, triage classifier, contributor matching.

Importable without the web app or Celery; it never talks to GitHub itself.
"""
