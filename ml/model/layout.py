"""Folder layouts of a transform run and of a trained model (no TensorFlow needed)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ml.errors import MissingArtifact

SAVED_MODEL_PB = "saved_model.pb"
MONITORING_REFERENCE = "reference.json"


@dataclass(frozen=True)
class TransformLayout:
    """`<artifact_root>/<pipeline>/transforms/<run id>/`."""

    root: Path

    @property
    def tft_output(self) -> Path:
        """A TFTransformOutput dir: transform_fn/, transformed_metadata/, metadata/ (raw schema)."""
        return self.root / "transform_output"

    @property
    def transformed(self) -> Path:
        return self.root / "transformed"

    def transformed_pattern(self, split: str) -> str:
        return str(self.transformed / f"{split}-*.tfrecord.gz")

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def require(self) -> TransformLayout:
        if not self.manifest.is_file():
            raise MissingArtifact(
                f"{self.root} is not a transform output (no manifest.json); run `transform` first",
                file=str(self.root),
                rule="transform-exists",
            )
        return self


@dataclass(frozen=True)
class ModelLayout:
    """A model dir `M`: the clean SavedModel lives in `M/saved_model/`, sidecars beside it."""

    root: Path

    @property
    def saved_model(self) -> Path:
        return self.root / "saved_model"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def train_result(self) -> Path:
        return self.root / "train_result.json"

    @property
    def infra_blessing(self) -> Path:
        return self.root / "infra_blessing.json"


def train_outcome_file(model_dir: str | Path) -> Path:
    """Where `train --output M` leaves its outcome for the runner (beside M: M itself is
    replaced atomically), hidden from the models listing."""
    model_dir = Path(model_dir)
    return model_dir.parent / f".{model_dir.name}.outcome.json"


@dataclass(frozen=True)
class EvaluationLayout:
    """An evaluation dir `E` (`<artifact_root>/<pipeline>/evaluations/<run id>/`)."""

    root: Path

    @property
    def blessing(self) -> Path:
        """The verdict: blessed or not, decided by which check, the metrics it compared."""
        return self.root / "blessing.json"

    @property
    def metrics(self) -> Path:
        """`{slice: {candidate|baseline|benchmark|diff: {metric: value}}}`."""
        return self.root / "metrics.json"

    @property
    def analysis(self) -> Path:
        """What TFMA does not compute: side by side, gaps, robustness probe, sensitivity."""
        return self.root / "analysis.json"

    @property
    def tfma(self) -> Path:
        """TFMA's own output (tfma.load_eval_result, load_validation_result)."""
        return self.root / "tfma"

    @property
    def monitoring_reference(self) -> Path:
        """The live model's reference (ml.monitoring.reference), written beside by `evaluate`."""
        return self.root / MONITORING_REFERENCE

    def beside(self, name: str) -> Path:
        """A file another layer writes beside the evaluation."""
        return self.root / name


@dataclass(frozen=True)
class BaselineModel:
    """The model a candidate is compared with: its SavedModel folder and, when it is a served
    version, that version number (resolved by the caller, e.g. from the serving root)."""

    path: Path
    version: int | None = None


def resolve_model(path: str | Path) -> ModelLayout:
    """Accept a model dir `M` or its `M/saved_model` folder."""
    path = Path(path).resolve()
    if (path / SAVED_MODEL_PB).is_file() and path.name == "saved_model":
        path = path.parent
    layout = ModelLayout(path)
    if not (layout.saved_model / SAVED_MODEL_PB).is_file() or not layout.train_result.is_file():
        raise MissingArtifact(
            f"{path} is not a trained model dir (expected saved_model/"
            f"{SAVED_MODEL_PB} and train_result.json); run `train` first",
            file=str(path),
            rule="model-exists",
        )
    return layout


def find_saved_model(path: str | Path) -> Path:
    """A SavedModel folder given itself or a model dir holding `saved_model/`."""
    path = Path(path).resolve()
    for candidate in (path, path / "saved_model"):
        if (candidate / SAVED_MODEL_PB).is_file():
            return candidate
    raise MissingArtifact(
        f"no SavedModel ({SAVED_MODEL_PB}) at {path}", file=str(path), rule="saved-model-exists"
    )


def saved_model_digest(saved_model: Path) -> str:
    """sha256 over the graph and the variables index: binds blessings to one exact model."""
    digest = hashlib.sha256()
    for rel in (SAVED_MODEL_PB, "variables/variables.index"):
        file = Path(saved_model) / rel
        if file.is_file():
            digest.update(rel.encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()
