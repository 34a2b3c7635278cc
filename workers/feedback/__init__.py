"""Human label changes that correct the bot: recorded as feedback for training."""
