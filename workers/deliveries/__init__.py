"""Recovering webhook deliveries GitHub could not hand over (``decide``, ``flow``, ``cli``)."""
