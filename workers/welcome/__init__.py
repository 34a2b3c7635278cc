"""Welcoming first-time contributors (flow and pure decisions)."""
