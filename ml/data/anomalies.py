"""Anomalies of every data check as one flat record type, plus TFDV Anomalies proto helpers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from tensorflow_metadata.proto.v0 import anomalies_pb2

COMPARATOR_PREFIX = "COMPARATOR_"
DATASET = "*dataset*"  # feature name used for dataset-level anomalies


@dataclass(frozen=True)
class Anomaly:
    feature: str
    kind: str  # TFDV anomaly type (e.g. ENUM_TYPE_UNEXPECTED_STRING_VALUES) or GE expectation
    description: str
    check: str  # great_expectations | schema | drift | skew
    severity: str  # block | warn

    @property
    def blocking(self) -> bool:
        return self.severity == "block"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def line(self) -> str:
        return f"{self.feature} {self.kind} ({self.check}, {self.severity}): {self.description}"


def _kind(reason) -> str:
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    return anomalies_pb2.AnomalyInfo.Type.Name(reason.type)


def _feature_name(key: str, info) -> str:
    steps = list(info.path.step)
    return ".".join(steps) if steps else key


def from_tfdv(anomalies: anomalies_pb2.Anomalies, *, check: str, severity: str) -> list[Anomaly]:
    """One Anomaly per TFDV reason (feature-level, dataset-level and missing data)."""
    out = []
    for key in sorted(anomalies.anomaly_info):
        info = anomalies.anomaly_info[key]
        out += [
            Anomaly(
                _feature_name(key, info),
                _kind(r),
                (r.description or info.description).strip(),
                check,
                severity,
            )
            for r in info.reason
        ]
    out += [
        Anomaly(DATASET, _kind(r), r.description.strip(), check, severity)
        for r in anomalies.dataset_anomaly_info.reason
    ]
    if anomalies.HasField("data_missing") and anomalies.data_missing:
        out.append(Anomaly(DATASET, "DATA_MISSING", "the statistics hold no data", check, severity))
    return out


def only_comparators(anomalies: anomalies_pb2.Anomalies) -> anomalies_pb2.Anomalies:
    """A copy keeping only drift/skew comparator reasons (a drift or skew check's own findings)."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    kept = anomalies_pb2.Anomalies()
    kept.CopyFrom(anomalies)
    kept.ClearField("dataset_anomaly_info")
    kept.ClearField("data_missing")
    for key in list(kept.anomaly_info):
        info = kept.anomaly_info[key]
        reasons = [r for r in info.reason if _kind(r).startswith(COMPARATOR_PREFIX)]
        if not reasons:
            del kept.anomaly_info[key]
            continue
        del info.reason[:]
        info.reason.extend(reasons)
        info.description = " ".join(r.description for r in reasons)
        info.short_description = reasons[0].short_description
    return kept


def set_severity(anomalies: anomalies_pb2.Anomalies, severity: str) -> None:
    """Mark every feature anomaly ERROR (blocking) or WARNING (warn) as configured."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    level = anomalies_pb2.AnomalyInfo.ERROR if severity == "block" else anomalies_pb2.AnomalyInfo.WARNING
    for key in anomalies.anomaly_info:
        anomalies.anomaly_info[key].severity = level


def merge(base: anomalies_pb2.Anomalies, extra: anomalies_pb2.Anomalies) -> None:
    """Add `extra`'s feature anomalies and drift/skew measurements into `base` (in place)."""
    for key in sorted(extra.anomaly_info):
        info = extra.anomaly_info[key]
        if key not in base.anomaly_info:
            base.anomaly_info[key].CopyFrom(info)
            continue
        target = base.anomaly_info[key]
        target.reason.extend(info.reason)
        target.description = f"{target.description} {info.description}".strip()
        target.severity = max(target.severity, info.severity)
    base.drift_skew_info.extend(extra.drift_skew_info)


def measurements(anomalies: anomalies_pb2.Anomalies, field: str) -> dict[str, dict]:
    """`{feature: {type, value, threshold}}` from drift_skew_info (field: drift/skew_measurements)."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    out = {}
    for info in anomalies.drift_skew_info:
        for m in getattr(info, field):
            out[".".join(info.path.step)] = {
                "type": anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(m.type),
                "value": round(float(m.value), 6),
                "threshold": float(m.threshold),
            }
    return dict(sorted(out.items()))


def to_text(anomalies: anomalies_pb2.Anomalies) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(anomalies)
