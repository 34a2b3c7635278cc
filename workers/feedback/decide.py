"""What a human label change tells us about the bot (pure)."""

from __future__ import annotations


def feedback_kind(*, added: bool, bot_applied_this: bool, bot_acted_on_item: bool) -> str | None:
    """What a human label change tells us about the bot, or None if nothing.

    Removing a label the bot applied contradicts it; adding one after the bot acted on
    the item is a label the bot missed.
    """
    if not added and bot_applied_this:
        return "label_removed"
    if added and bot_acted_on_item and not bot_applied_this:
        return "label_added"
    return None
