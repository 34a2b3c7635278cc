"""Semantic matching in the bot: the per-repository index of item embeddings, and the
work suggested to a returning contributor after a merge."""
