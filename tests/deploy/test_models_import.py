"""``steward models import PATH``: an organisation without the Hugging Face hub brings its
own encoder (for ``STEWARD_BASE_MODEL``) or a model trained elsewhere (a new version)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main

ORG_REPO = "acme/widgets"


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small BERT (random weights, the packaged model's tokenizer) saved as
    ``save_pretrained`` writes it: what an organisation would copy in."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from models.defaults import packaged_model_path

    folder = tmp_path_factory.mktemp("encoder") / "tiny-bert"
    tokenizer = AutoTokenizer.from_pretrained(packaged_model_path())
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
    )
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Steward's data directory (models, SQLite) with no App and no `.env`."""
    for name in ("APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("STEWARD_MODEL_DIR", raising=False)
    monkeypatch.setenv("STEWARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STEWARD_ENV_FILE", str(tmp_path / "none.env"))
    return tmp_path / "data"


def test_a_base_encoder_goes_where_steward_base_model_can_name_it(
    tiny_encoder: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from models.defaults import resolve_model_name
    from models.encoder import Encoder

    assert main(["models", "import", str(tiny_encoder)]) == 0
    target = data_dir / "models" / ".base" / "tiny-bert"
    out, err = capsys.readouterr()
    assert "32 dimensions" in out and f"STEWARD_BASE_MODEL={target.resolve()}" in err
    assert Encoder.from_pretrained(resolve_model_name(str(target)), device="cpu").dim == 32
    assert main(["models", "import", str(tiny_encoder)]) == 1  # never over a folder in use
    assert main(["models", "import", str(tiny_encoder), "--name", "second"]) == 0
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".")]  # no leftovers


def test_a_folder_that_is_no_model_is_refused(
    tiny_encoder: Path, data_dir: Path, tmp_path: Path
) -> None:
    assert main(["models", "import", str(tmp_path / "missing")]) == 2
    (tmp_path / "empty").mkdir()
    assert main(["models", "import", str(tmp_path / "empty")]) == 2
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((tiny_encoder / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    assert main(["models", "import", str(pickled)]) == 2
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    (broken / "model.safetensors").write_bytes(b"")
    assert main(["models", "import", str(broken)]) == 1
    assert not list((data_dir / "models" / ".base").iterdir())  # nothing half kept


def trained_elsewhere(encoder_folder: Path, root: Path, repo: str | None) -> Path:
    """A model saved in another deployment's store: head and triage.json in a version
    folder, the encoder once in that store's ``.encoders``."""
    import torch

    from models.encoder import Encoder
    from models.triage.model import TriageMeta, TriageModel

    encoder = Encoder.from_pretrained(str(encoder_folder), device="cpu", max_length=32)
    head = torch.nn.Linear(encoder.dim, 2)
    meta = TriageMeta(
        labels=["bug", "enhancement"],
        multi_label=False,
        thresholds={"bug": 0.5, "enhancement": 0.5},
        base_model="tiny-bert",
        max_length=32,
        repo=repo,
        fingerprint="f1",
    )
    folder = root / "models" / ".versions" / "other__repo" / "3"
    TriageModel(encoder, head, meta).save(folder, encoders=root / "models" / ".encoders")
    return folder


def test_a_trained_model_becomes_a_new_version(
    tiny_encoder: Path, data_dir: Path, tmp_path: Path
) -> None:
    from core.store import open_store
    from models.triage.model import TriageModel
    from workers.modelstore import ModelPaths, live_version
    from workers.retrain.cli import version_rows

    folder = trained_elsewhere(tiny_encoder, tmp_path / "elsewhere", repo=ORG_REPO)
    assert main(["models", "import", str(folder)]) == 0
    paths = ModelPaths(data_dir / "models", ORG_REPO)
    assert live_version(paths) is None  # imported, not live
    assert main(["models", "import", str(folder), "--promote"]) == 0
    assert live_version(paths) == 2
    model = TriageModel.load(paths.live, device="cpu")  # its encoder came along
    assert model.labels == ["bug", "enhancement"]
    store = open_store(f"sqlite:///{data_dir / 'steward.db'}")
    rows = version_rows(store, paths)
    assert [(r["version"], r["decision"], r["live"]) for r in rows] == [
        (1, "imported", False),
        (2, "imported", True),
    ]


def test_a_trained_model_needs_its_repository_and_its_encoder(
    tiny_encoder: Path, data_dir: Path, tmp_path: Path
) -> None:
    import shutil

    folder = trained_elsewhere(tiny_encoder, tmp_path / "elsewhere", repo=None)
    assert main(["models", "import", str(folder)]) == 2
    assert main(["models", "import", str(folder), "--repo", "not-a-repo"]) == 2
    shutil.rmtree(tmp_path / "elsewhere" / "models" / ".encoders")
    assert main(["models", "import", str(folder), "--repo", ORG_REPO]) == 2
    assert not (data_dir / "models" / ".versions").exists()
