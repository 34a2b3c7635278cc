"""Zero-shot triage for a repository without a trained model.

It uses what the repository already has: its label names and descriptions, and the
issues maintainers have labelled so far. An issue's score for a label blends its
similarity to the label's text with its similarity to that label's nearest labelled
issues; the more examples a label has, the more the neighbours count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from models.encoder import TextEncoder
from models.triage.data import LabelInfo, LabelledItem
from models.triage.text import TextOptions, prepare_text


def label_text(label: LabelInfo) -> str:
    """Readable text of a label: ``kind/bug`` → ``kind bug``, plus its description."""
    name = re.sub(r"[/_:\-]+", " ", label.name).strip()
    return f"{name}: {label.description}" if label.description else name


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (cosine similarity becomes a dot product)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax of ``scores / temperature``."""
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def other_neighbour_scores(sims: np.ndarray, members: np.ndarray, k: int) -> np.ndarray:
    """Mean of the ``k`` highest finite similarities to a label's examples, per item
    (similarities of an item to itself set to ``-inf`` are skipped; 0 with none left).
    """
    if members.sum() == 0:
        return np.zeros(len(sims))
    top = -np.sort(-sims[:, members], axis=1)[:, :k]
    valid = np.isfinite(top)
    return np.asarray(np.where(valid, top, 0.0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1))


def neighbour_scores(sims: np.ndarray, members: np.ndarray, k: int) -> np.ndarray:
    """Mean of the ``k`` highest similarities to a label's examples, per item."""
    if members.sum() == 0:
        return np.zeros(len(sims))
    own = sims[:, members]
    top = min(k, own.shape[1])
    return np.asarray(np.sort(own, axis=1)[:, -top:].mean(axis=1))


class ZeroShotClassifier:
    """Label probabilities from label texts and already-labelled issues."""

    def __init__(
        self,
        labels: list[LabelInfo],
        examples: list[LabelledItem],
        *,
        encoder: TextEncoder | None = None,
        k: int = 7,
        prior_examples: float = 5.0,
        temperature: float = 0.05,
        text_options: TextOptions | None = None,
    ) -> None:
        """``prior_examples``: how many examples weigh as much as the label's own text."""
        if not labels:
            raise ValueError("zero-shot classification needs at least one label")
        self.labels = labels
        self.examples = [ex for ex in examples if set(ex.labels) & {lab.name for lab in labels}]
        self.k = k
        self.prior_examples = prior_examples
        self.temperature = temperature
        self.text_options = text_options or TextOptions()
        self._encoder = encoder
        self._label_vecs: np.ndarray | None = None
        self._example_vecs: np.ndarray | None = None

    @property
    def encoder(self) -> TextEncoder:
        """The injected encoder, or the packaged base model loaded on first use."""
        if self._encoder is None:
            from models.defaults import base_model
            from models.encoder import get_encoder

            # The packaged default: a caller that wants STEWARD_BASE_MODEL passes an encoder.
            self._encoder = get_encoder(base_model({}))
        return self._encoder

    def embed_items(self, items: Sequence[LabelledItem]) -> np.ndarray:
        """Unit-length embeddings of issues."""
        texts = [prepare_text(it.title, it.body, self.text_options) for it in items]
        return normalise(np.asarray(self.encoder.encode(texts), dtype=np.float32))

    def fit(self) -> ZeroShotClassifier:
        """Embed label texts and examples once (``predict`` calls this when needed)."""
        self._label_vecs = normalise(
            np.asarray(self.encoder.encode([label_text(lab) for lab in self.labels]))
        )
        self._example_vecs = self.embed_items(self.examples) if self.examples else np.zeros((0, 1))
        return self

    def scores(self, vecs: np.ndarray) -> np.ndarray:
        """Blended similarity of each item to each label."""
        if self._label_vecs is None or self._example_vecs is None:
            self.fit()
        assert self._label_vecs is not None and self._example_vecs is not None
        by_name: np.ndarray = vecs @ self._label_vecs.T
        if not self.examples:
            return by_name
        sims = vecs @ self._example_vecs.T
        out: np.ndarray = np.empty_like(by_name)
        for j, label in enumerate(self.labels):
            members = np.array([label.name in ex.labels for ex in self.examples])
            weight = members.sum() / (members.sum() + self.prior_examples)
            out[:, j] = (
                weight * neighbour_scores(sims, members, self.k) + (1 - weight) * by_name[:, j]
            )
        return out

    def held_out_probs(self) -> np.ndarray:
        """Each example's probabilities (examples × labels) with the example itself left
        out: scored as a new item is, against every other example.

        This is what the gate measures (:mod:`models.triage.gate`): a score the
        classifier gave without learning from the item it scored.
        """
        if self._label_vecs is None or self._example_vecs is None:
            self.fit()
        assert self._label_vecs is not None and self._example_vecs is not None
        vecs = self._example_vecs
        by_name: np.ndarray = vecs @ self._label_vecs.T
        sims = vecs @ vecs.T
        np.fill_diagonal(sims, -np.inf)  # an example is never its own neighbour
        out = np.empty_like(by_name)
        for j, label in enumerate(self.labels):
            members = np.array([label.name in ex.labels for ex in self.examples])
            count = members.sum() - members.astype(float)  # the others of the label
            weight = count / (count + self.prior_examples)
            out[:, j] = (
                weight * other_neighbour_scores(sims, members, self.k)
                + (1 - weight) * by_name[:, j]
            )
        return softmax(out, self.temperature)

    def predict(self, items: Sequence[LabelledItem]) -> list[dict[str, float]]:
        """One ``{label: probability}`` per item (probabilities sum to 1)."""
        if not items:
            return []
        probs = softmax(self.scores(self.embed_items(items)), self.temperature)
        names = [lab.name for lab in self.labels]
        return [dict(zip(names, map(float, row), strict=True)) for row in probs]
