"""Where data, artifacts and served models live: flags > env > `<project>/.local/`.

Local paths only (a shared POSIX mount on several hosts: docs/how-to/multi-host.md). A URL such
as `gs://bucket/ml` is refused: read as a path it would silently become a local folder `gs:`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ml.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCAL = PROJECT_ROOT / ".local"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


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
            if _URL.match(str(value)):
                raise ConfigError(
                    f"{value} (--{default.rstrip('s')}-root / {env}): the roots are local paths (a shared "
                    "POSIX mount on several hosts: docs/how-to/multi-host.md); object-store URLs are not "
                    "supported",
                    column=env,
                    rule="local-root",
                )
            return Path(value).resolve()

        return cls(
            data=pick(data, "ML_DATA_ROOT", "data"),
            artifacts=pick(artifacts, "ML_ARTIFACT_ROOT", "artifacts"),
            serving=pick(serving, "ML_SERVING_ROOT", "serving"),
        )
