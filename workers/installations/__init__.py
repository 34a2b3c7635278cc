"""Keeping the record of installations and their repositories current."""
