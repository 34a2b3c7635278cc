"""The shared floor of both processes: settings, the store and its migrations, logging,
typed payloads, the repository config schema, the queue and the task contracts.

Nothing here imports ``app`` (the web process), ``workers`` or ``fakegithub``.
"""
