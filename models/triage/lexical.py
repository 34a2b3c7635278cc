"""A lexical channel for the triage classifier: TF-IDF (words and character n-grams) with
a logistic regression per repository, blended with the fine-tuned encoder's probabilities.

Words like "crash", "feature request" or a stack-trace fragment are strong, cheap
signals that a small encoder blurs; in cross-validation on NLBSE'24 the blend beat
either part alone. Saved as JSON (vocabularies) and safetensors (weights): no pickles.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

VOCAB_FILE = "lexical.json"
WEIGHTS_FILE = "lexical.safetensors"
WORD = {"analyzer": "word", "ngram_range": (1, 2), "min_df": 2, "sublinear_tf": True}
CHAR = {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2, "sublinear_tf": True}
C = 10.0


def _vectorizer(params: dict[str, Any], vocabulary: dict[str, int] | None = None) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(**params, vocabulary=vocabulary, dtype=np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


@dataclass
class LexicalModel:
    """Two fitted TF-IDF vocabularies and a linear layer over their features."""

    word_vocab: dict[str, int]
    word_idf: np.ndarray
    char_vocab: dict[str, int]
    char_idf: np.ndarray
    coef: np.ndarray  # (labels, features)
    intercept: np.ndarray  # (labels,)
    multi_label: bool

    @classmethod
    def fit(cls, texts: Sequence[str], targets: np.ndarray, *, multi_label: bool) -> LexicalModel:
        """Fit on texts and a 0/1 target matrix ``(items, labels)``."""
        word, char = _vectorizer(WORD), _vectorizer(CHAR)
        features = _stack(word.fit_transform(texts), char.fit_transform(texts))
        coef, intercept = (
            _fit_independent(features, targets) if multi_label else _fit_softmax(features, targets)
        )
        return cls(
            word_vocab={k: int(v) for k, v in word.vocabulary_.items()},
            word_idf=word.idf_.astype(np.float32),
            char_vocab={k: int(v) for k, v in char.vocabulary_.items()},
            char_idf=char.idf_.astype(np.float32),
            coef=coef.astype(np.float32),
            intercept=intercept.astype(np.float32),
            multi_label=multi_label,
        )

    def features(self, texts: Sequence[str]) -> Any:
        """The sparse TF-IDF features of ``texts``."""
        word = _vectorizer(WORD, self.word_vocab)
        word.idf_ = self.word_idf
        char = _vectorizer(CHAR, self.char_vocab)
        char.idf_ = self.char_idf
        return _stack(word.transform(texts), char.transform(texts))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities ``(len(texts), labels)``: sigmoid per label or softmax."""
        if not texts:
            return np.zeros((0, len(self.intercept)), dtype=np.float32)
        scores = np.asarray(self.features(texts) @ self.coef.T) + self.intercept
        if self.multi_label:
            return np.asarray(1.0 / (1.0 + np.exp(-scores)), dtype=np.float32)
        return _softmax(scores).astype(np.float32)

    def save(self, directory: Path) -> None:
        """Write ``lexical.json`` and ``lexical.safetensors`` into a model folder."""
        from safetensors.numpy import save_file

        vocab = {"word": self.word_vocab, "char": self.char_vocab, "multi_label": self.multi_label}
        (directory / VOCAB_FILE).write_text(json.dumps(vocab, ensure_ascii=False))
        save_file(
            {
                "word_idf": self.word_idf,
                "char_idf": self.char_idf,
                "coef": self.coef,
                "intercept": self.intercept,
            },
            str(directory / WEIGHTS_FILE),
        )

    @classmethod
    def load(cls, directory: Path) -> LexicalModel | None:
        """The lexical channel saved in a model folder, or None if it has none."""
        if not (directory / VOCAB_FILE).is_file():
            return None
        from safetensors.numpy import load_file

        vocab = json.loads((directory / VOCAB_FILE).read_text())
        weights = load_file(str(directory / WEIGHTS_FILE))
        return cls(
            word_vocab=vocab["word"],
            word_idf=weights["word_idf"],
            char_vocab=vocab["char"],
            char_idf=weights["char_idf"],
            coef=weights["coef"],
            intercept=weights["intercept"],
            multi_label=bool(vocab["multi_label"]),
        )


def _stack(a: Any, b: Any) -> Any:
    from scipy.sparse import hstack

    return hstack([a, b]).tocsr()


def _fit_softmax(features: Any, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One multinomial regression; a two-label task becomes a symmetric softmax."""
    from sklearn.linear_model import LogisticRegression

    y = targets.argmax(axis=1)
    present = np.unique(y)
    model = LogisticRegression(C=C, max_iter=2000).fit(features, y)
    coef = np.zeros((targets.shape[1], features.shape[1]))
    intercept = np.full(targets.shape[1], -30.0)  # labels never seen: never predicted
    if len(present) == 2:
        # sklearn keeps one row for two classes; split it so softmax equals its sigmoid.
        coef[present[0]], coef[present[1]] = -model.coef_[0] / 2, model.coef_[0] / 2
        intercept[present[0]], intercept[present[1]] = (
            -model.intercept_[0] / 2,
            model.intercept_[0] / 2,
        )
    else:
        coef[present], intercept[present] = model.coef_, model.intercept_
    return coef, intercept


def _fit_independent(features: Any, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One binary regression per label (labels of several independent families)."""
    from sklearn.linear_model import LogisticRegression

    coef = np.zeros((targets.shape[1], features.shape[1]))
    intercept = np.zeros(targets.shape[1])
    for j in range(targets.shape[1]):
        column = targets[:, j]
        if column.min() == column.max():  # always or never: a constant, not a classifier
            intercept[j] = 30.0 if column.max() else -30.0
            continue
        model = LogisticRegression(C=C, max_iter=2000).fit(features, column)
        coef[j], intercept[j] = model.coef_[0], model.intercept_[0]
    return coef, intercept


def blend(encoder_probs: np.ndarray, lexical_probs: np.ndarray, weight: float) -> np.ndarray:
    """The weighted mean of the two channels' probabilities."""
    return np.asarray((1.0 - weight) * encoder_probs + weight * lexical_probs)
