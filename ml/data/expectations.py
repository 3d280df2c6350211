"""Great Expectations on the raw span: an ephemeral context (no cloud, no project folder) whose
only Data Docs site is a folder we choose.

The suite is built from pipeline.yaml: row count >= `min_rows`, every declared column present
and typed, the label source not null beyond `label.max_null_fraction`, each feature not null
beyond its `max_null_fraction` (when set), and each feature's `min`/`max` range.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ml.atomic import atomic_write_json
from ml.config import PipelineConfig
from ml.spans import DATA_DOCS_INDEX, GE_RESULT, span_start

SUITE = "raw_span"
SITE = "span"
TABLE = "*table*"  # feature name used for table-level expectations
# pandas dtype names GE reports for the frames of ml.data.raw.read_raw_span
TYPE_NAMES = {
    "string": ["object", "str", "string"],
    "int": ["Int64Dtype", "int64", "int32"],
    "float": ["float64", "float32"],
}


@dataclass
class ExpectationResult:
    success: bool
    failures: list[tuple[str, str, str]]  # (column, expectation type, description)
    evaluated: int
    docs_index: Path
    results: list[dict]  # every expectation: {column, expectation, passed}


def build_suite(cfg: PipelineConfig):
    import great_expectations as gx
    import great_expectations.expectations as gxe

    suite = gx.ExpectationSuite(name=SUITE)
    suite.add_expectation(gxe.ExpectTableRowCountToBeBetween(min_value=cfg.min_rows))
    for column, typ in cfg.raw_column_types.items():
        suite.add_expectation(gxe.ExpectColumnToExist(column=column))
        suite.add_expectation(gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=TYPE_NAMES[typ]))
    if cfg.label_function is None:  # a function label's null rate is checked at ingest
        suite.add_expectation(
            gxe.ExpectColumnValuesToNotBeNull(
                column=cfg.label_source, mostly=round(1.0 - cfg.label_max_null_fraction, 6)
            )
        )
    for feature in cfg.landed_features:
        if feature.max_null_fraction is not None:
            suite.add_expectation(
                gxe.ExpectColumnValuesToNotBeNull(
                    column=feature.name, mostly=round(1.0 - feature.max_null_fraction, 6)
                )
            )
        if feature.min is not None or feature.max is not None:
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeBetween(
                    column=feature.name, min_value=feature.min, max_value=feature.max
                )
            )
    return suite


def _context(docs_dir: Path):
    """Ephemeral context, analytics and progress bars off, one Data Docs site in `docs_dir`."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={
            SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _describe(result) -> str:
    """One line from a GE expectation result: observed value or unexpected count + examples."""
    details = result.result or {}
    if result.exception_info and result.exception_info.get("raised_exception"):
        return f"raised: {result.exception_info.get('exception_message')}"
    parts = []
    if "unexpected_count" in details:
        parts.append(
            f"{details['unexpected_count']} of {details.get('element_count')} value(s) "
            f"unexpected ({details.get('unexpected_percent') or 0:.2f}%)"
        )
        examples = [v for v in details.get("partial_unexpected_list") or [] if v == v][:5]
        if examples:
            parts.append(f"e.g. {examples}")
    if "observed_value" in details:
        parts.append(f"observed {details['observed_value']!r}")
    kwargs = {
        k: v
        for k, v in result.expectation_config.kwargs.items()
        if k not in ("column", "batch_id") and v is not None
    }
    return f"{'; '.join(parts) or 'failed'} (expected {kwargs})"


def run_expectations(
    cfg: PipelineConfig, frame: pd.DataFrame, span: str, docs_dir: Path
) -> ExpectationResult:
    """Validate the raw span's DataFrame and build the HTML Data Docs into `docs_dir`, with GE's
    validation result beside them (`GE_RESULT`: GE's `ExpectationSuiteValidationResultSchema`
    loads it back)."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    context = _context(docs_dir)
    batch = (
        context.data_sources.add_pandas(cfg.name)
        .add_dataframe_asset(cfg.landing_folder)
        .add_batch_definition_whole_dataframe("span")
    )
    suite = context.suites.add(build_suite(cfg))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{cfg.name}-{span}", data=batch, suite=suite)
    )
    run_id = RunIdentifier(run_name=span, run_time=span_start(cfg, span))
    results = definition.run(
        batch_parameters={"dataframe": frame}, run_id=run_id, result_format={"result_format": "SUMMARY"}
    )
    context.build_data_docs(site_names=[SITE])
    atomic_write_json(docs_dir / GE_RESULT, results.to_json_dict())
    failures = [
        (r.expectation_config.kwargs.get("column") or TABLE, r.expectation_config.type, _describe(r))
        for r in results.results
        if not r.success
    ]
    return ExpectationResult(
        success=bool(results.success),
        failures=failures,
        evaluated=len(results.results),
        docs_index=docs_dir / DATA_DOCS_INDEX,
        results=[
            {
                "column": r.expectation_config.kwargs.get("column") or TABLE,
                "expectation": r.expectation_config.type,
                "passed": bool(r.success),
            }
            for r in results.results
        ],
    )
