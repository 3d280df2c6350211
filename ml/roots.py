"""Where data, artifacts and served models live: flags > env > `<project>/.local/`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCAL = PROJECT_ROOT / ".local"


@dataclass(frozen=True)
class Roots:
    data: Path  # landing zone (ML_DATA_ROOT)
    artifacts: Path  # examples, stats, transforms, models, evaluations (ML_ARTIFACT_ROOT)
    serving: Path  # TF Serving model base paths (ML_SERVING_ROOT)

    @classmethod
    def resolve(
        cls,
        data: str | os.PathLike | None = None,
        artifacts: str | os.PathLike | None = None,
        serving: str | os.PathLike | None = None,
    ) -> Roots:
        def pick(flag, env: str, default: str) -> Path:
            value = flag or os.environ.get(env) or DEFAULT_LOCAL / default
            return Path(value).resolve()

        return cls(
            data=pick(data, "ML_DATA_ROOT", "data"),
            artifacts=pick(artifacts, "ML_ARTIFACT_ROOT", "artifacts"),
            serving=pick(serving, "ML_SERVING_ROOT", "serving"),
        )
