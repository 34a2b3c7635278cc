"""Steward's Celery workers: tasks per feature, the GitHub client, idempotent effects."""
