"""A repository history with issues people closed as duplicates, built in the fake GitHub
with its own builders (for the duplicates' flow and end-to-end tests).

70 issues about as many made-up components (each with one of six symptoms), then 45 that
repeat one of them, which people closed as duplicates in the three ways GitHub shows: a
``Duplicate of #N`` comment, the ``duplicate`` close reason with a link in a comment, the
``duplicate`` label with a ``marked_as_duplicate`` event and a link.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fakegithub.fake import FakeGitHub
from tests.support import ORG

SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "pe", "qu", "so", "dra", "fli")
SYMPTOMS = (
    "crashes on startup",
    "leaks memory while idle",
    "hangs when the network drops",
    "returns the wrong status code",
    "prints a stack trace on exit",
    "forgets its settings after an update",
)
SINGLES, DUPLICATES = 70, 45
#: alice may push (her 👎 is a maintainer's), bob may only read.
WRITERS = {"alice": "write", "bob": "read"}
#: A bar this history of 45 duplicates can clear (the default one needs about 100).
BAR = "  precision: 0.9\n  confidence: 0.9\n"
LIVE = f"triage:\n  duplicates: live\n{BAR}"


@dataclass(frozen=True)
class Topic:
    """What one original issue is about: a made-up component, its symptom, a step."""

    component: str
    symptom: str
    step: str

    def original(self) -> tuple[str, str]:
        """The first report's title and body."""
        return (
            f"{self.component} {self.symptom}",
            f"Using the {self.component} component, it {self.symptom} after the {self.step} step.",
        )

    def repeat(self, salt: int) -> tuple[str, str]:
        """A later report of the same thing, in other words."""
        return (
            f"{self.symptom.capitalize()} in {self.component} ({salt})",
            f"Seen again: the {self.component} component {self.symptom} after {self.step}.",
        )


def topics(seed: int) -> list[Topic]:
    """``SINGLES`` topics with distinct components."""
    rng = random.Random(seed)
    made: dict[str, Topic] = {}
    while len(made) < SINGLES:
        component = "".join(rng.choice(SYLLABLES) for _ in range(3))
        step = "".join(rng.choice(SYLLABLES) for _ in range(3))
        made.setdefault(component, Topic(component, rng.choice(SYMPTOMS), step))
    return list(made.values())


def close_as_duplicate(fake: FakeGitHub, repo: str, number: int, original: int, way: int) -> None:
    """People mark ``number`` a duplicate of ``original``, in one of three ways."""
    item = fake.issue(ORG, repo, number)
    target = fake.repo(ORG, repo)
    if way == 0:  # the comment (GitHub records the mark), then closed as completed
        fake.add_comment(ORG, repo, number, body=f"Duplicate of #{original}", user="alice")
        fake.set_state(target, item, "closed", "completed", "alice")
    elif way == 1:  # closed as a duplicate, the earlier issue linked in a comment
        fake.add_comment(ORG, repo, number, body=f"Same as #{original}, closing.", user="alice")
        fake.set_state(target, item, "closed", "duplicate", "alice")
    else:  # the label and the event, the link in a comment
        fake.add_comment(ORG, repo, number, body=f"#{original} covers this", user="alice")
        fake.log_event(item, "marked_as_duplicate", "alice")
        fake.set_labels(target, item, ["duplicate"], "alice")
        fake.set_state(target, item, "closed", "not_planned", "alice")


def add_history(fake: FakeGitHub, repo: str, *, seed: int = 1) -> tuple[list[Topic], list[int]]:
    """Fill ``ORG/repo`` with the history above: its topics and the originals' numbers."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=400)
    about = topics(seed)
    originals = []
    for day, topic in enumerate(about):
        title, body = topic.original()
        moment = start + timedelta(days=day)
        made = fake.add_issue(ORG, repo, title=title, body=body, user="zoe", created_at=moment)
        originals.append(made.number)
    for k in range(DUPLICATES):
        which = rng.randrange(SINGLES)
        title, body = about[which].repeat(k)
        moment = start + timedelta(days=SINGLES + k)
        made = fake.add_issue(ORG, repo, title=title, body=body, user="yan", created_at=moment)
        close_as_duplicate(fake, repo, made.number, originals[which], k % 3)
    return about, originals


def repeat_of(fake: FakeGitHub, repo: str, topic: Topic) -> int:
    """A new issue that repeats ``topic``'s first report word for word; its number."""
    title, body = topic.original()
    return fake.add_issue(ORG, repo, title=title, body=body, user="newbie").number
