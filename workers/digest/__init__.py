"""The weekly digest: the maintainers' dashboard numbers as one post per week (opt-in)."""
