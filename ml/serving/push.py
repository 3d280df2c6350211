"""`push`: copy a blessed, infra-validated model into TF Serving's versioned base path, then
promote it by version labels (ml/serving/labels.py: load, `canary`, smoke predict, `stable`).

The copy goes to a hidden temp folder on the same filesystem (saved_model.pb last), then one
rename makes `<serving_root>/<model>/<version>/` appear complete; TF Serving ignores
non-integer folders. Metadata travels with the version in `assets.extra/push_metadata.json`.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
import shutil
from pathlib import Path

from pydantic import BaseModel

from ml.artifact import Artifact
from ml.atomic import atomic_write_json
from ml.config import PipelineConfig
from ml.errors import PipelineError, PromotionRefused, ServingError
from ml.model.blessing import Blessing, InfraBlessing
from ml.model.layout import SAVED_MODEL_PB, ModelLayout, resolve_model, saved_model_digest
from ml.model.signatures import RAW_SIGNATURE
from ml.model.tf_example import to_instance
from ml.model.train_result import TrainResult
from ml.roots import Roots
from ml.serving import labels
from ml.serving import tf_serving_client as client
from ml.serving.layout import METADATA_DIR, PUSH_METADATA, TMP_PREFIX, ServingLayout
from ml.serving.lock import serving_lock
from ml.serving.rollback import retire_version
from ml.tfrecord import read_tfrecords

TF_SERVING_ROOT_ENV = "ML_TF_SERVING_ROOT"


class ServingCheck(BaseModel):
    """What TF Serving said after the push (with `--serving-url`): the version's state and the
    smoke test's answers under the label it went through."""

    state: str | None = None  # the version's state as TF Serving reports it (AVAILABLE)
    smoke_label: str | None = None  # the label the smoke test called (canary)
    smoke_predictions: list[float] = []


class PushResult(Artifact):
    """A blessed model installed as a new TF Serving version and promoted by labels."""

    model: str  # TF Serving's model name
    version: int  # the version folder installed
    version_dir: str
    models_config: str  # the models.config written
    stale_copies_removed: list[str] = []  # half-copied folders of an interrupted push
    serving: ServingCheck | None = None  # None: no --serving-url, nothing asked
    verified_by: str  # infra-validate (and the smoke test when TF Serving was asked)
    labels: dict[str, int] = {}  # {stable|canary: version} after the push
    previous_stable: int | None = None
    loaded_versions: list[int] = []
    retired: list[int] = []  # versions moved out (serving.keep_loaded)
    live_version: int | None = None  # the stable version now

    def summary(self) -> str:
        """`pushed version 3; live version 3`."""
        line = f"pushed version {self.version}"
        return line + (f"; live version {self.live_version}" if self.live_version is not None else "")


def _gate(ok: bool, message: str, *, file: Path | str, rule: str) -> None:
    if not ok:
        raise PromotionRefused(message, file=str(file), rule=rule)


def check_blessing(layout: ModelLayout, blessing_path: Path, digest: str) -> Blessing:
    _gate(
        blessing_path.is_file(),
        f"no blessing at {blessing_path}; run `evaluate` first",
        file=blessing_path,
        rule="not-blessed",
    )
    blessing = Blessing.read(blessing_path)
    _gate(
        blessing.blessed,
        f"model {layout.root} is not blessed: {blessing.refusal} ({blessing_path})",
        file=blessing_path,
        rule="not-blessed",
    )
    _gate(
        blessing.saved_model_digest == digest,
        f"blessing {blessing_path} was written for another model "
        f"({blessing.saved_model}), not {layout.saved_model}",
        file=blessing_path,
        rule="blessing-mismatch",
    )
    return blessing


def check_infra(layout: ModelLayout, digest: str) -> InfraBlessing:
    path = layout.infra_blessing
    _gate(
        path.is_file(),
        f"model {layout.root} was not infra-validated; run `infra-validate`",
        file=path,
        rule="not-infra-validated",
    )
    infra = InfraBlessing.read(path)
    _gate(
        infra.passed and infra.saved_model_digest == digest,
        f"infra validation of {layout.saved_model} did not pass or is for another model: "
        f"{infra.error or 'digest mismatch'}",
        file=path,
        rule="not-infra-validated",
    )
    return infra


def check_fresh(blessing: Blessing, serving: ServingLayout, blessing_path: Path) -> None:
    """The blessing must have compared against what is served now."""
    against = blessing.baseline_version
    live = labels.stable_version(serving)
    _gate(
        against == live,
        f"blessing {blessing_path} compared against stable version {against}, but version "
        f"{live} is stable now; re-run `evaluate --baseline auto`",
        file=blessing_path,
        rule="blessing-stale",
    )


def copy_saved_model(source: Path, target: Path, metadata: dict) -> None:
    """Copy with the metadata written before, and saved_model.pb after, everything else."""
    target.mkdir()
    last = source / SAVED_MODEL_PB
    for path in sorted(source.rglob("*")):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(exist_ok=True)
        elif path != last:
            shutil.copy2(path, destination)
    atomic_write_json(target / METADATA_DIR / PUSH_METADATA, metadata)
    shutil.copy2(last, target / SAVED_MODEL_PB)


def _clean_stale_copies(serving: ServingLayout) -> list[str]:
    """Temp copies left by a killed push (safe: we hold the lock, so none is in flight)."""
    stale = sorted(serving.base.glob(f"{TMP_PREFIX}*")) if serving.base.is_dir() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return [str(p) for p in stale]


def install_version(serving: ServingLayout, source: Path, metadata: dict) -> int:
    version = metadata["version"] = serving.next_version()
    serving.base.mkdir(parents=True, exist_ok=True)
    tmp = serving.base / f"{TMP_PREFIX}{version}-{os.getpid()}"
    try:
        copy_saved_model(source, tmp, metadata)
        os.rename(tmp, serving.version_dir(version))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return version


def smoke_instances(blessing: Blessing, label: str, count: int) -> list[dict]:
    records = (r for f in blessing.eval_files for r in read_tfrecords(Path(f)))
    return [to_instance(r, drop=(label,)) for r in itertools.islice(records, count)]


def smoke_test(cfg: PipelineConfig, url: str, model: str, blessing: Blessing, label: str) -> dict:
    """`serving.smoke_examples` raw eval rows through `/labels/<label>:predict` (`serving_raw`)."""
    instances = smoke_instances(blessing, cfg.label, cfg.serving.smoke_examples)
    try:
        predictions = client.predict(url, model, instances, RAW_SIGNATURE, label=label)
    except client.RequestFailed as exc:
        raise ServingError(
            f"smoke :predict on {model} label {label} failed: {exc}", file=url, rule="serving-smoke"
        ) from None
    flat = [p[0] if isinstance(p, list) else p for p in predictions]
    _gate(
        len(flat) == len(instances) and all(0.0 <= float(p) <= 1.0 for p in flat),
        f"smoke :predict on {model} label {label} returned {predictions!r} for {len(instances)} instances",
        file=url,
        rule="serving-smoke",
    )
    return {"smoke_label": label, "smoke_predictions": flat}


def push(
    cfg: PipelineConfig,
    roots: Roots,
    model: Path,
    blessing_path: Path,
    *,
    serving_url: str | None = None,
    timeout_s: float | None = None,
    tf_serving_root: str | None = None,
) -> PushResult:
    layout = resolve_model(model)
    blessing_path = Path(blessing_path).resolve()
    digest = saved_model_digest(layout.saved_model)
    blessing = check_blessing(layout, blessing_path, digest)
    infra = check_infra(layout, digest)
    serving = ServingLayout.of(cfg, roots)
    served_root = tf_serving_root or os.environ.get(TF_SERVING_ROOT_ENV) or str(serving.root)
    timeout_s = timeout_s or cfg.serving.wait_timeout_s
    with serving_lock(serving.lock_file):
        check_fresh(blessing, serving, blessing_path)
        stale = _clean_stale_copies(serving)
        metadata = {
            "model_name": serving.model,
            "source_model_dir": str(layout.root),
            "source_saved_model": str(layout.saved_model),
            "saved_model_digest": digest,
            "blessing_file": str(blessing_path),
            "blessed": True,
            "metrics": blessing.candidate,
            "auc_by_slice": blessing.auc_by_slice,
            "baseline": blessing.baseline.model_dump(mode="json", exclude={"kind"})
            if blessing.baseline
            else None,
            "spans": blessing.spans,
            "infra_validated": infra.passed,
            "train": TrainResult.read(layout.train_result).eval_metrics,
            "pushed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        version = install_version(serving, layout.saved_model, metadata)
        retire = functools.partial(retire_version, serving)
        smoke = (
            functools.partial(smoke_test, cfg, serving_url, serving.model, blessing) if serving_url else None
        )
        try:
            rolled = labels.roll_out(
                serving,
                f"{served_root}/{serving.model}",
                version,
                url=serving_url,
                timeout_s=timeout_s,
                smoke=smoke,
            )
        except BaseException as exc:  # roll_out put models.config back; the folder goes too
            moved_to = retire(version, f"post-push check failed: {exc}")
            if not isinstance(exc, PipelineError):
                raise
            raise PipelineError(
                f"{exc.detail}; version {version} retired to {moved_to}, models.config as before "
                f"(stable: version {labels.stable_version(serving)})",
                file=exc.file,
                rule=exc.rule,
            ) from None
        keep = cfg.serving.keep_loaded
        retired = labels.retain(serving, keep, retire)
        result = PushResult(
            model=serving.model,
            version=version,
            version_dir=str(serving.version_dir(version)),
            models_config=str(serving.models_config),
            stale_copies_removed=stale,
            serving=ServingCheck.model_validate(rolled) if serving_url else None,
            verified_by=rolled["verified_by"],
            labels=rolled["labels"],
            previous_stable=rolled["previous_stable"],
            loaded_versions=serving.versions(),
            retired=sorted(retired),
            live_version=labels.stable_version(serving),
        )
    return result
