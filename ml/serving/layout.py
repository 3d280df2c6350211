"""The serving root as TF Serving sees it, plus our bookkeeping (hidden, ignored by TF Serving).

<serving_root>/models.config                 ModelServerConfig (every model in the root)
<serving_root>/.lock                         fcntl lock taken by push / rollback
<serving_root>/<model>/<version>/            served SavedModels (integer folders only)
<serving_root>/<model>/<version>/assets.extra/push_metadata.json   our metadata
<serving_root>/<model>/.push-tmp-*           in-flight copies (non-integer: ignored)
<serving_root>/.retired/<model>/<version>/   versions taken out of service (never deleted)
<serving_root>/.labels/<model>.jsonl         every move of the `stable` label (promote, rollback)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml.atomic import read_json
from ml.config import PipelineConfig
from ml.roots import Roots

METADATA_DIR = "assets.extra"  # TF Serving's place for extra files next to a SavedModel
PUSH_METADATA = "push_metadata.json"
RETIRED_METADATA = "retired.json"
TMP_PREFIX = ".push-tmp-"


@dataclass(frozen=True)
class ServingLayout:
    root: Path
    model: str

    @classmethod
    def of(cls, cfg: PipelineConfig, roots: Roots) -> ServingLayout:
        return cls(roots.serving, cfg.model_name)

    @property
    def base(self) -> Path:
        """TF Serving's model base path."""
        return self.root / self.model

    @property
    def retired(self) -> Path:
        return self.root / ".retired" / self.model

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"

    @property
    def models_config(self) -> Path:
        return self.root / "models.config"

    @property
    def labels_log(self) -> Path:
        return self.root / ".labels" / f"{self.model}.jsonl"

    def version_dir(self, version: int) -> Path:
        return self.base / str(version)

    @staticmethod
    def _versions(folder: Path) -> list[int]:
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())

    def versions(self) -> list[int]:
        """Installed versions, ascending (loaded ones: ml.serving.labels keeps them all loaded)."""
        return self._versions(self.base)

    def retired_versions(self) -> list[int]:
        return self._versions(self.retired)

    def latest(self) -> int | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def next_version(self) -> int:
        """Never reuses a number, retired ones included."""
        return max([0, *self.versions(), *self.retired_versions()]) + 1

    def metadata(self, version_dir: Path) -> dict:
        path = version_dir / METADATA_DIR / PUSH_METADATA
        return read_json(path) if path.is_file() else {}
