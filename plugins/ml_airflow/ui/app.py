"""The ML view's routes, mounted at `/ml-artifacts` (ARTIFACTS_PREFIX) on the API server.

Every route depends on `auth.py`. URLs in the pages are host-relative (built from the request's
`root_path`), so they work behind any host, port or proxy prefix.

  /                                   pipelines the user may read, with their reports
  /_static/...                        plotly.js (from its wheel), vendored CSS/JS, GE images
  /_dag/{dag_id}                      the DAG tab: redirects to its pipeline's view
  /{pipeline}/                        the pipeline's ML view
  /{pipeline}/stats/{span}            TFDV statistics as tables + histograms (?against=SPAN)
  /{pipeline}/tfma/{run_id}           TFMA slice table, plots and blessing of one evaluation
  /{pipeline}/{path}                  a report file under <artifact_root>/<pipeline>/
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ml.config import available_pipelines, load_pipeline
from ml.errors import PipelineError
from ml.roots import Roots
from ml.spans import SpanPaths
from ml_airflow.links import ARTIFACTS_PREFIX, ERROR_XCOM, REPORTS_XCOM
from ml_airflow.ui import reports
from ml_airflow.ui import view as view_models
from ml_airflow.ui.auth import Pipeline, User, can_read, pipeline_of_dag
from ml_airflow.ui.files import clean_parts, media_type, pipeline_root, resolve_under
from ml_airflow.ui.live import live_figure, live_rows
from ml_airflow.ui.static_files import STATIC, ge_static, plotly_js
from ml_airflow.ui.store import store_for

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def metric(value: float | None, name: str = "") -> str:
    """A metric for a table cell: counts with separators, NaN/None as a dash."""
    if value is None or value != value:  # noqa: PLR0124  (NaN != NaN)
        return "–"
    return f"{value:,.0f}" if name == "example_count" else f"{value:.4f}"


TEMPLATES.filters["metric"] = metric


def base_url(request: Request) -> str:
    """The app's host-relative URL (`/ml-artifacts`, or `/prefix/ml-artifacts` behind a proxy)."""
    return request.scope.get("root_path", "").rstrip("/")


def page(request: Request, template: str, **context: Any) -> HTMLResponse:
    base = base_url(request)
    html = TEMPLATES.get_template(template).render(base=base, static=f"{base}/_static", **context)
    return HTMLResponse(html)


def create_app(roots: Roots | None = None) -> FastAPI:
    """The app; `roots` fixes the artifact root (tests), else it is resolved per request (env)."""
    app = FastAPI(title="ML view", docs_url=None, redoc_url=None, openapi_url=None)

    def artifacts(pipeline: str) -> Path:
        return pipeline_root(pipeline, roots)

    def layout(pipeline: str) -> SpanPaths:
        return SpanPaths(load_pipeline(pipeline), roots or Roots.resolve())

    def located(pipeline: str, where: Callable[[SpanPaths], Path]) -> str:
        """Where the layout keeps a file, relative to the pipeline's artifact folder; a span or
        run id that is not one is a 404 (the layout refuses it), never a path outside."""
        paths = layout(pipeline)
        try:
            return reports.under(paths, where(paths))
        except PipelineError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such report") from None

    @app.get("/", response_class=HTMLResponse)
    def index(request: Request, user: User) -> HTMLResponse:
        pipelines = [p for p in available_pipelines() if can_read(request, user, p)]
        base = base_url(request)
        listing = {
            p: [
                (span, reports.span_reports(f"{base}/{p}", layout(p), span))
                for span in reports.span_ids(layout(p))
            ]
            for p in pipelines
        }
        runs = {p: reports.evaluation_runs(layout(p)) for p in pipelines}
        return page(request, "index.html", listing=listing, runs=runs, user=user.get_name())

    @app.get("/_static/plotly.min.js")
    def plotly(user: User) -> FileResponse:
        path = plotly_js()
        if path is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "plotly is not installed")
        return FileResponse(path, media_type="text/javascript", headers=CACHE)

    @app.get("/_static/ge/{path:path}")
    def ge_asset(path: str, user: User) -> FileResponse:
        root = ge_static()
        if root is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "great_expectations is not installed")
        file = resolve_under(root, path)
        return FileResponse(file, media_type=media_type(file), headers=CACHE)

    @app.get("/_static/{path:path}")
    def static(path: str, user: User) -> FileResponse:
        file = resolve_under(STATIC, path)
        return FileResponse(file, media_type=media_type(file), headers=CACHE)

    @app.get("/_dag/{dag_id}")
    def dag_tab(dag_id: str, request: Request, user: User) -> RedirectResponse:
        pipeline = pipeline_of_dag(dag_id)
        if pipeline is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{dag_id!r} is no ML pipeline's DAG")
        return RedirectResponse(f"{base_url(request)}/{pipeline}/", status.HTTP_307_TEMPORARY_REDIRECT)

    @app.get("/_ti/{dag_id}/{run_id}/{task_id}/{map_index}", response_class=HTMLResponse)
    def task_tab(
        dag_id: str, run_id: str, task_id: str, map_index: str, request: Request, user: User
    ) -> Response:
        from ml_airflow.ui.task_reports import report_links, task_xcoms

        pipeline = pipeline_of_dag(dag_id)
        if pipeline is None or not can_read(request, user, pipeline):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"{dag_id!r}: no ML pipeline you may read")
        index = int(map_index) if map_index.lstrip("-").isdigit() else -1
        xcoms = task_xcoms(dag_id, run_id, task_id, index)
        links = report_links(
            artifacts(pipeline), f"{base_url(request)}/{pipeline}", xcoms.get(REPORTS_XCOM) or {}
        )
        return page(
            request,
            "task.html",
            pipeline=pipeline,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            links=links,
            error=xcoms.get(ERROR_XCOM),
        )

    @app.get("/{pipeline}", include_in_schema=False)
    def pipeline_slash(pipeline: Pipeline, request: Request) -> RedirectResponse:
        return RedirectResponse(f"{base_url(request)}/{pipeline}/", status.HTTP_307_TEMPORARY_REDIRECT)

    def pipeline_page(request: Request, pipeline: str) -> HTMLResponse:
        view = view_models
        store = store_for(pipeline, roots)
        base = f"{base_url(request)}/{pipeline}"
        columns = view.grid(store, pipeline, base, task_urls(request, pipeline))
        models = view.model_rows(store, pipeline, base)
        counts: dict[str, int] = {}
        for col in columns:
            counts[col.status] = counts.get(col.status, 0) + 1
        figures = {
            "drift": view.distance_figure(store, pipeline, "drift"),
            "skew": view.distance_figure(store, pipeline, "skew"),
            "volume": view.volume_figure(store, pipeline),
            "nulls": view.null_figure(store, pipeline),
            "slices": view.slice_figure(store, pipeline),
        }
        live = live_rows(store, pipeline, base)
        figures["live"] = live_figure(live, pipeline)
        names = sorted({k for m in models for k in m.overall})
        return page(
            request,
            "pipeline.html",
            pipeline=pipeline,
            columns=columns,
            checks=view.CHECKS,
            cell_px=max(2, min(28, 1150 // max(len(columns), 1) - 1)),  # a year fits 1280 px
            counts=counts,
            figures=figures,
            models=models,
            metric_names=[n for n in METRICS_SHOWN if n in names],
            events=view.serving_history(store, pipeline),
            live=live,
            schedule_note=schedule_note(),
        )

    @app.get("/{pipeline}/api/spans")
    def api_spans(pipeline: Pipeline, request: Request) -> list[view_models.SpanColumn]:
        base = f"{base_url(request)}/{pipeline}"
        return view_models.grid(store_for(pipeline, roots), pipeline, base, task_urls(request, pipeline))

    @app.get("/{pipeline}/api/models")
    def api_models(pipeline: Pipeline, request: Request) -> list[view_models.ModelRow]:
        return view_models.model_rows(store_for(pipeline, roots), pipeline, f"{base_url(request)}/{pipeline}")

    @app.get("/{pipeline}/stats/{span}", response_class=HTMLResponse)
    def stats_page(pipeline: Pipeline, span: str, request: Request, against: str | None = None) -> Response:
        from ml_airflow.ui.render import stats_page as render

        root = artifacts(pipeline)
        source = located(pipeline, lambda p: p.stats_file(span))
        current = resolve_under(root, source, suffixes=STATS)
        # `against=baseline`: the statistics of the span's drift baseline (its window of spans)
        other = None
        if against:
            other_file = located(
                pipeline,
                lambda p: p.baseline_stats_file(span) if against == "baseline" else p.stats_file(against),
            )
            other = resolve_under(root, other_file, suffixes=STATS)
        context = render.context(span, current, against, other, source)
        return page(request, "stats.html", pipeline=pipeline, **context)

    @app.get("/{pipeline}/tfma/{run_id}", response_class=HTMLResponse)
    def tfma_page(pipeline: Pipeline, run_id: str, request: Request) -> Response:
        from ml_airflow.ui.render import tfma

        evaluation = located(pipeline, lambda p: p.evaluation_dir(run_id))
        folder = resolve_under(artifacts(pipeline), evaluation, want_dir=True)
        return page(request, "tfma.html", pipeline=pipeline, run_id=run_id, **tfma.context(folder))

    @app.get("/{pipeline}/monitor/{span}", response_class=HTMLResponse)
    def monitor_page(pipeline: Pipeline, span: str, request: Request, cutoff: str | None = None) -> Response:
        """One span's monitoring (the newest realized cutoff, else the newest estimate before labels,
        or `?cutoff=`): verdict first, then the counts, each version's realized vs estimated vs
        band, the served inputs' checks, and TFMA's metrics per slice."""
        paths = layout(pipeline)
        folder = resolve_under(
            artifacts(pipeline), located(pipeline, lambda p: p.monitor_dir(span)), want_dir=True
        )
        results = {
            p.name: json.loads(paths.monitor_file(p).read_text())
            for p in sorted(folder.iterdir())
            if paths.monitor_file(p).is_file()
        }
        if not results:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"span {span} was never monitored")
        runs = list(results)
        realized = [name for name in runs if results[name].get("stage", "realized") == "realized"]
        chosen = cutoff if cutoff in results else (realized or runs)[-1]
        result = results[chosen]
        by_label = result.get("by_label", {})  # `all` only when several labels served the span
        labels = {k: v for k, v in by_label.items() if k != "all" or len(by_label) > 2}
        return page(
            request,
            "monitor.html",
            pipeline=pipeline,
            span=span,
            result=result,
            labels=labels,
            runs=runs,
            stages={name: r.get("stage", "realized") for name, r in results.items()},
            chosen=chosen,
            served=result.get("served_inputs"),
        )

    @app.get("/{pipeline}/monitor/{span}/served", response_class=HTMLResponse)
    def served_stats_page(pipeline: Pipeline, span: str, request: Request, cutoff: str) -> Response:
        """The served inputs of one monitoring against the answering model's training statistics
        (the statistics page: tables and histograms side by side)."""
        from ml_airflow.ui.render import stats_page as render

        root, paths = artifacts(pipeline), layout(pipeline)
        monitoring = f"{located(pipeline, lambda p: p.monitor_dir(span))}/{cutoff}"
        folder = resolve_under(root, monitoring, want_dir=True)
        served = json.loads(paths.monitor_file(folder).read_text()).get("served_inputs") or {}
        source = reports.under(paths, paths.served_stats_file(folder))
        current = resolve_under(root, source, suffixes=STATS)
        training = Path(served["training_stats"]) if served.get("training_stats") else None
        other = None
        if training is not None and training.is_relative_to(root):
            other = resolve_under(root, str(training.relative_to(root)), suffixes=STATS)
        context = render.context(f"served {span}", current, "training" if other else None, other, source)
        return page(request, "stats.html", pipeline=pipeline, **context)

    @app.get("/{pipeline}/{path:path}")
    def report(pipeline: Pipeline, path: str, request: Request) -> Response:
        root = artifacts(pipeline)
        parts = clean_parts(path)
        if not parts:
            return pipeline_page(request, pipeline)
        if len(parts) == 4 and parts[0] == "spans" and parts[2] == "validation":
            legacy = parts[3]  # Facets pages of `stats-html`: our own rendering instead
            if legacy == "stats.html" or (legacy.startswith("stats_vs_") and legacy.endswith(".html")):
                against = (
                    legacy.removeprefix("stats_vs_").removesuffix(".html") if legacy != "stats.html" else ""
                )
                query = f"?against={against}" if against else ""
                return RedirectResponse(f"{base_url(request)}/{pipeline}/stats/{parts[1]}{query}")
        target = root.joinpath(*parts)
        if target.resolve().is_dir() and target.resolve().is_relative_to(root):
            folder = resolve_under(root, path, want_dir=True)
            return page(
                request, "listing.html", pipeline=pipeline, path="/".join(parts), entries=listing(folder)
            )
        file = resolve_under(root, path)
        if "data_docs" in parts and file.suffix in (".html", ".css"):
            from ml_airflow.ui.render.datadocs import offline_css, offline_html

            text = file.read_text(encoding="utf-8")
            static_url = f"{base_url(request)}/_static"
            if file.suffix == ".html":
                return HTMLResponse(offline_html(text, static_url))
            return Response(offline_css(text, static_url), media_type=media_type(file))
        if file.suffix == ".pbtxt":
            return PlainTextResponse(file.read_text(encoding="utf-8"))
        return FileResponse(file, media_type=media_type(file))

    return app


CACHE = {"Cache-Control": "private, max-age=3600"}
METRICS_SHOWN = ("example_count", "auc", "binary_accuracy", "precision", "recall", "calibration")


def task_urls(request: Request, pipeline: str) -> dict[str, str]:
    """`{span: URL of its validate task instance}` in the Airflow UI ({} without a metadata DB)."""
    from ml_airflow.ui.airflow_runs import span_runs, task_url

    ui_base = base_url(request).removesuffix(ARTIFACTS_PREFIX)
    dag_id = f"{pipeline}_ingest"
    try:
        runs = span_runs(dag_id, load_pipeline(pipeline))
    except Exception:  # noqa: BLE001  (the view still works without run links)
        return {}
    return {span: task_url(ui_base, dag_id, run_id, "validate") for span, run_id in runs.items()}


def schedule_note() -> str:
    """Says so when the scheduler creates no cron runs (the local default)."""
    from airflow.configuration import conf

    if conf.getboolean("scheduler", "use_job_schedule", fallback=True):
        return ""
    return (
        "Cron scheduling is off here ([scheduler] use_job_schedule = False, the local default): "
        "spans are ingested by backfills and manual triggers only, so no run happens on its own "
        'and the DAGs\' "Next Run" is not going to happen.'
    )


STATS = frozenset({".tfrecord"})


def listing(folder: Path) -> list[tuple[str, bool]]:
    """(name, is_dir) of a folder's visible entries, folders first."""
    entries = [(p.name, p.is_dir()) for p in folder.iterdir() if not p.name.startswith(".")]
    return sorted(entries, key=lambda e: (not e[1], e[0]))
