"""What `train` writes (`M/train_result.json`) and returns, typed (no TensorFlow needed to read it).

Read by every train runner (in-process, subprocess, container) through the step outcome, and by
evaluate, infra-validate, push and the results store from the model dir.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ml.artifact import DETAIL, Artifact, num
from ml.errors import ArtifactInvalid

MetricValues = dict[str, float | None]  # {metric key: value}; None: undefined (one class)


class TrainResult(Artifact):
    """One trained model: where it is, what it was trained on, how, and its last metrics."""

    model_dir: str  # M
    spans: list[str]  # the spans of the transform window it was trained on
    epochs: int
    seed: int = 0
    pipeline: str | None = None
    kind: str | None = None  # the benchmark's kind ("logistic regression"); None: the module's model
    saved_model: str | None = None  # M/saved_model (TFT graph inside)
    tensorboard: str | None = None  # M/tensorboard (TensorBoard's logs)
    transform_dir: str | None = None  # the transform output trained on
    transform_run_id: str | None = None
    transform_digest: str | None = None  # of the transform output: same digest, same inputs
    weights_digest: str | None = None  # of the trained weights: same seed and inputs, same digest
    rows: dict[str, int] = {}  # {train|eval: rows}
    raw_eval_files: list[str] = Field([], json_schema_extra=DETAIL)  # the eval spans' raw examples
    train_metrics: MetricValues = {}  # Keras' last epoch on the train split
    eval_metrics: MetricValues = {}  # and on the eval split (None: undefined, one class)
    warnings: list[str] = []  # e.g. one class in a split
    device: str = "CPU"  # `CPU` or `GPU:0 (<name>)`
    batch_size: int | None = None
    fit_seconds: float | None = None
    signatures: list[str] = []  # the SavedModel's serving signatures
    tensorflow: str | None = None  # the TensorFlow version it was trained with

    @property
    def transform_path(self) -> Path:
        """The transform output it was trained on (every model of `train` records one)."""
        if not self.transform_dir:
            raise ArtifactInvalid(f"{self.model_dir} records no transform_dir", file=self.model_dir)
        return Path(self.transform_dir)

    def summary(self) -> str:
        """`trained r1: 3 epoch(s) on CPU; eval auc 0.712, loss 0.433`."""
        shown = ", ".join(f"{k} {num(v)}" for k, v in sorted(self.eval_metrics.items()) if v is not None)
        line = f"trained {Path(self.model_dir).name}: {self.epochs} epoch(s) on {self.device}"
        return line + (f"; eval {shown}" if shown else "")
