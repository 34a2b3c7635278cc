"""Which human label changes count as feedback on the bot."""

from __future__ import annotations

import pytest

from workers.feedback.decide import feedback_kind
from workers.gates import label_effect_key


@pytest.mark.parametrize(
    ("added", "bot_applied_this", "bot_acted", "kind"),
    [
        (False, True, True, "label_removed"),
        (False, False, True, None),
        (True, False, True, "label_added"),
        (True, True, True, None),
        (True, False, False, None),
        (False, False, False, None),
    ],
)
def test_feedback_kind(
    added: bool, bot_applied_this: bool, bot_acted: bool, kind: str | None
) -> None:
    assert (
        feedback_kind(added=added, bot_applied_this=bot_applied_this, bot_acted_on_item=bot_acted)
        == kind
    )


def test_label_effect_key() -> None:
    assert label_effect_key("o/r", 3, "bug") == "triage:o/r#3:label:bug"
