"""Scheduled retraining of triage models: flow, pure rules, and `steward models`."""
