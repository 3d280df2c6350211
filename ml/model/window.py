"""Which spans feed a transform/evaluation: the window, minus missing and failed spans."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ml.config import PipelineConfig
from ml.data.span_results import SpanVerdict
from ml.errors import MissingArtifact, PipelineError
from ml.roots import Roots
from ml.spans import SpanPaths, span_range


@dataclass
class SpanSelection:
    window: list[str]  # every span id considered
    used: list[str] = field(default_factory=list)  # ingested and not failed
    missing: list[str] = field(default_factory=list)  # never ingested
    skipped: dict[str, str] = field(default_factory=dict)  # span -> why (failed validation)
    unvalidated: list[str] = field(default_factory=list)  # used, but no verdict yet (warned)

    def as_dict(self) -> dict:
        return asdict(self)

    def warnings(self) -> list[str]:
        out = [f"span {s} not ingested: skipped" for s in self.missing]
        out += [f"span {s} skipped: {why}" for s, why in self.skipped.items()]
        out += [f"span {s} has no validation verdict yet: used unvalidated" for s in self.unvalidated]
        return out


def parse_span_range(cfg: PipelineConfig, text: str) -> list[str]:
    """`D1:D2` (inclusive) or a single `D`, span ids of the pipeline's cadence."""
    first, _, last = text.partition(":")
    return span_range(cfg, first, last or first)


def _verdict_failure(path: Path) -> str | None:
    """Why a span's validation verdict blocks it, or None when it passed."""
    try:
        verdict = SpanVerdict.read(path)
    except (OSError, ValueError, PipelineError) as exc:
        return f"validation verdict unreadable ({exc})"
    if verdict.passed:
        return None
    return f"validation verdict passed={verdict.passed!r} ({path})"


def select_spans(cfg: PipelineConfig, roots: Roots, window: list[str]) -> SpanSelection:
    paths = SpanPaths(cfg, roots)
    ingested = set(paths.ingested_spans())
    sel = SpanSelection(window=list(window))
    for span in window:
        if span not in ingested:
            sel.missing.append(span)
            continue
        verdict = paths.verdict_file(span)
        if not verdict.is_file():
            sel.unvalidated.append(span)
            sel.used.append(span)
        elif (why := _verdict_failure(verdict)) is not None:
            sel.skipped[span] = why
        else:
            sel.used.append(span)
    return sel


def split_files(cfg: PipelineConfig, roots: Roots, spans: list[str], split: str) -> list[Path]:
    """The ingested shards of `split` for the given spans; fails if a span has none."""
    paths = SpanPaths(cfg, roots)
    files = []
    for span in spans:
        found = paths.split_files(span, split)
        if not found:
            hint = (
                "; re-ingest it (split.test_percent was set after it was ingested)" if split == "test" else ""
            )
            raise MissingArtifact(
                f"span {span} has no ingested {split} examples under {paths.examples_dir(span) / split}"
                + hint,
                span=span,
                file=str(paths.examples_dir(span)),
                rule="examples-exist",
            )
        files.extend(found)
    return files


def class_warnings(rows: dict[str, int], positives: dict[str, int]) -> list[str]:
    """What a window's splits cannot do: nothing to judge, or a split that holds one class. The
    judged split is test when the window has one (split.test_percent), else eval."""
    judged = "test" if "test" in rows else "eval"
    out = []
    if rows.get(judged, 0) == 0:
        why = "evaluate has nothing to judge; widen training.window_spans"
        out.append(f"the window's {judged} split is empty: {why}")
    cannot = {"train": "the model cannot learn the label", judged: "AUC is undefined: evaluate cannot judge"}
    if judged == "test":
        cannot["eval"] = "Keras' validation AUC is undefined"
    for split, what in cannot.items():
        n, p = rows.get(split, 0), positives.get(split, 0)
        if n and (p == 0 or p == n):
            out.append(
                f"the window's {split} split holds one class ({n} rows, {p} positive): {what}; "
                "widen training.window_spans or wait for more spans"
            )
    return out
