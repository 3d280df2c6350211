"""`stats-html --span D [--against PREV]`: TFDV's Facets Overview of a span's statistics."""

from __future__ import annotations

import argparse

from ml.config import PipelineConfig
from ml.errors import MissingArtifact
from ml.roots import Roots

NAME = "stats-html"
HELP = "write TFDV's HTML view of a validated span's statistics (optionally against another span)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--span", required=True, help="span id (its format follows span.cadence, e.g. 2013-01-05 or 2013-01)"
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--against", metavar="PREV", help="a second validated span to compare with")
    group.add_argument(
        "--baseline", action="store_true", help="compare with the span's drift baseline statistics"
    )


def run(args: argparse.Namespace, cfg: PipelineConfig, roots: Roots) -> dict:
    from ml.atomic import atomic_write_text
    from ml.data.stats import load_statistics, statistics_html
    from ml.spans import SpanPaths, parse_span

    paths = SpanPaths(cfg, roots)
    span = parse_span(cfg, args.span)
    against = parse_span(cfg, args.against) if args.against else None
    wanted = [(span, paths.stats_file(span))]
    if against:
        wanted.append((against, paths.stats_file(against)))
    elif args.baseline:
        against = "baseline"
        wanted.append((span, paths.baseline_stats_file(span)))
    loaded = []
    for name, path in wanted:
        if not path.is_file():
            raise MissingArtifact(
                f"span {name} has no statistics ({path}); run `python -m ml validate --span {name}` first",
                span=name,
                file=str(path),
                rule="stats-exist",
            )
        loaded.append(load_statistics(path))
    title = f"{cfg.name} span {span}" + (f" vs {against}" if against else "")
    html = statistics_html(
        loaded[0], loaded[1] if against else None, name=span, baseline_name=against or "baseline", title=title
    )
    output = atomic_write_text(paths.stats_html(span, against), html)
    return {"command": "stats-html", "span": span, "against": against, "stats_html": str(output)}
