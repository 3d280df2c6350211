"""The curated TFDV schema: load, infer, write, and drift/skew comparators from the config.

Thresholds live only in pipeline.yaml (`checks.drift|skew.features`); they are copied onto the
schema's `drift_comparator` / `skew_comparator` at validation time, replacing any in the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ml.atomic import atomic_write_text
from ml.config import CheckSpec, PipelineConfig
from ml.errors import ConfigError, DataError, MissingArtifact

if TYPE_CHECKING:  # pragma: no cover
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

TRAINING, SERVING = "TRAINING", "SERVING"
COMPARATORS = {"linf": "infinity_norm", "jsd": "jensen_shannon_divergence"}
# TFDV's measurement types (in a verdict's check) by the short name reports use
SHORT_NAMES = {"JENSEN_SHANNON_DIVERGENCE": "jsd", "L_INFTY": "linf", "NORMALIZED_ABSOLUTE_DIFFERENCE": "nad"}
COMPARATOR_FIELDS = {"drift": "drift_comparator", "skew": "skew_comparator"}


def short_name(measurement_type: str) -> str:
    """`jsd` for `JENSEN_SHANNON_DIVERGENCE`; an unknown type in lower case."""
    return SHORT_NAMES.get(measurement_type, measurement_type.lower())


def load_schema(path: Path) -> schema_pb2.Schema:
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    path = Path(path)
    if not path.is_file():
        raise MissingArtifact(
            f"schema file {path} does not exist; create it with `python -m ml schema --infer --span D`",
            file=str(path),
            rule="schema-exists",
        )
    try:
        return text_format.Parse(path.read_text(), schema_pb2.Schema())
    except text_format.ParseError as exc:
        raise DataError(
            f"schema file {path} is not a valid Schema proto: {exc}", file=str(path), rule="schema-parses"
        ) from None


def stale_features(cfg: PipelineConfig, schema: schema_pb2.Schema) -> list[str]:
    """Features of schema.pbtxt that pipeline.yaml no longer declares at all (neither a feature,
    a label source, a key nor a passthrough column): e.g. a column dropped from the landing."""
    from ml.data.stats import span_columns

    declared = set(cfg.raw_column_types) | set(span_columns(cfg))
    return sorted(f.name for f in schema.feature if f.name not in declared)


def pipeline_schema(cfg: PipelineConfig) -> schema_pb2.Schema:
    """schema.pbtxt as the checks use it: only the columns the span statistics cover (landed
    features, the label's sources). Any other column it describes (a passthrough column, the old
    target after a label change, a column no longer landed) constrains nothing, so a label change
    is one edit of pipeline.yaml and module.py; `ml check` names the entries to delete."""
    from ml.data.stats import span_columns

    schema = load_schema(cfg.schema_path)
    read = set(span_columns(cfg))
    kept = [f for f in schema.feature if f.name in read]
    if len(kept) < len(schema.feature):
        del schema.feature[:]
        schema.feature.extend(kept)
    return schema


def write_schema(schema: schema_pb2.Schema, path: Path) -> Path:
    from google.protobuf import text_format

    return atomic_write_text(Path(path), text_format.MessageToString(schema))


def infer_schema(
    cfg: PipelineConfig, stats: statistics_pb2.DatasetFeatureStatisticsList
) -> schema_pb2.Schema:
    """`tfdv.infer_schema` + the TRAINING/SERVING environments (the label source is not served).

    TFDV gives an integer column that happens to hold only 0/1 (or one value, e.g. month=1 in a
    January span) a `bool_domain`; a declared `int` column keeps an integer domain instead (its
    declared min/max when pipeline.yaml has them), so later values such as month=2 are checked
    as integers, not accepted silently.
    """
    import tensorflow_data_validation as tfdv

    schema = tfdv.infer_schema(stats, infer_feature_shape=False)
    schema.default_environment[:] = [TRAINING, SERVING]
    declared = cfg.raw_column_types
    for feature in schema.feature:
        if feature.name in cfg.label_columns and feature.name not in cfg.feature_names:
            feature.not_in_environment[:] = [SERVING]
        if declared.get(feature.name) == "int" and feature.HasField("bool_domain"):
            feature.ClearField("bool_domain")
            spec = next((f for f in cfg.features if f.name == feature.name), None)
            if spec is not None and spec.min is not None:
                feature.int_domain.min = int(spec.min)
            if spec is not None and spec.max is not None:
                feature.int_domain.max = int(spec.max)
    return schema


def environment(schema: schema_pb2.Schema, name: str) -> str | None:
    return name if name in schema.default_environment else None


def strip_comparators(schema: schema_pb2.Schema) -> schema_pb2.Schema:
    """A copy of `schema` without drift/skew comparators (thresholds come from the config)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    out = schema_pb2.Schema()
    out.CopyFrom(schema)
    for feature in out.feature:
        feature.ClearField("drift_comparator")
        feature.ClearField("skew_comparator")
    return out


def with_comparators(schema: schema_pb2.Schema, check: CheckSpec, kind: str) -> schema_pb2.Schema:
    """A copy of `schema` whose only comparators are the config's `kind` (drift|skew) ones."""
    out = strip_comparators(schema)
    features = {f.name: f for f in out.feature}
    for name, thresholds in sorted(check.thresholds.items()):
        if name not in features:
            raise ConfigError(
                f"checks.{kind} names feature {name!r}, which the schema lacks",
                column=name,
                rule="check-config",
            )
        comparator = getattr(features[name], COMPARATOR_FIELDS[kind])
        for key, threshold in thresholds.items():
            if key not in COMPARATORS:
                raise ConfigError(
                    f"checks.{kind}.features.{name}: unknown comparator {key!r} "
                    f"(use {' or '.join(COMPARATORS)})",
                    column=name,
                    rule="check-config",
                )
            getattr(comparator, COMPARATORS[key]).threshold = float(threshold)
    return out
