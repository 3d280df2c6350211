"""The live model's costs, side by side in one run (after `make demo`, on its state):

    .venv/bin/python bench/monitor.py [--span 2013-01-15] [--repeat 3] [--requests 400]

1. Monitoring one span (read the prediction log, join the labels, TFMA realized metrics per
   version label, CBPE estimate, bands, results store) vs a bare TFMA run over the same joined
   rows (the tf.Examples `monitor` wrote, same EvalConfig): the overhead of everything around
   TFMA. Target: <= 1.5 x bare. Median of --repeat runs each, TF/TFMA imported and warm first.
2. The prediction-logging service's added latency: the same --requests single-instance
   `:predict` calls straight to TF Serving (the repo's named test double: no TF Serving binary
   here) and through `ml prediction-logger` (a real process, logging each to disk).
   Targets: <= 2 ms added at p50 and <= 10 ms at p99.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from ml.config import load_pipeline  # noqa: E402
from ml.roots import Roots  # noqa: E402
from ml.spans import SpanPaths  # noqa: E402

MONITOR_TARGET = 1.5
P50_TARGET_MS, P99_TARGET_MS = 2.0, 10.0


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_monitor(cfg, roots: Roots, span: str, repeat: int) -> dict:
    from ml.monitoring.monitor import monitor_span
    from ml.monitoring.realized import run_tfma
    from ml.results import open_store
    from ml.results.record import record_monitor

    store = open_store(cfg, roots)
    result = monitor_span(cfg, roots, span)  # warm: TF, TFMA, Beam, the reference
    joined = Path(result["monitor_dir"]) / "joined.tfrecord.gz"
    out = Path(tempfile.mkdtemp(prefix="bench-tfma-"))

    def full() -> None:
        record_monitor(store, monitor_span(cfg, roots, span))

    def bare() -> None:
        run_tfma(cfg, joined, out / f"run-{time.monotonic_ns()}")

    bare()
    bare_s, full_s = median_seconds(bare, repeat), median_seconds(full, repeat)
    return {"rows": result["counts"]["labelled"], "bare_s": bare_s, "monitor_s": full_s}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def latencies(url: str, bodies: list[bytes]) -> list[float]:
    out = []
    for i, body in enumerate(bodies):
        request = urllib.request.Request(
            url, body, {"Content-Type": "application/json", "X-Request-Id": f"bench-{i}"}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as resp:
            resp.read()
        out.append((time.perf_counter() - started) * 1000)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bench_logger(cfg, roots: Roots, span: str, count: int) -> dict:
    from ml.serving.layout import ServingLayout
    from ml.serving.prediction_log import read_span

    from tf_serving_double import TFServingDouble

    rows = read_span(SpanPaths(cfg, roots).predictions_dir(span))
    instances = [{f.name: p.inputs.get(f.name) for f in cfg.landed_features} for p in rows]
    instances = [i for i in instances if None not in i.values()]  # JSON has no missing value for a tensor
    bodies = [
        json.dumps({"signature_name": "serving_raw", "instances": [instances[i % len(instances)]]}).encode()
        for i in range(count)
    ]
    path = f"/v1/models/{cfg.model_name}/labels/stable:predict"
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="bench-logger-"))
    serving = ServingLayout.of(cfg, roots)
    allow = {"allow_version_labels_for_unavailable_models": True}  # as compose's tf-serving runs
    with TFServingDouble(None, cfg.model_name, config_file=serving.models_config, **allow) as double:
        argv = [sys.executable, "-m", "ml", "prediction-logger", "--pipeline", cfg.name]
        argv += ["--upstream", double.url, "--port", str(port)]
        proc = subprocess.Popen(
            argv, env={**os.environ, "ML_DATA_ROOT": str(data)}, stderr=subprocess.DEVNULL
        )
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/{cfg.model_name}", timeout=5)
                    break
                except OSError:
                    time.sleep(0.2)
            latencies(double.url + path, bodies[:50])  # warm both
            latencies(f"http://127.0.0.1:{port}{path}", bodies[:50])
            direct: list[float] = []
            proxied: list[float] = []
            for start in range(0, count, 50):  # interleaved: both see the same machine load
                direct += latencies(double.url + path, bodies[start : start + 50])
                proxied += latencies(f"http://127.0.0.1:{port}{path}", bodies[start : start + 50])
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {
        "requests": count,
        "direct_p50": percentile(direct, 0.5),
        "direct_p99": percentile(direct, 0.99),
        "proxied_p50": percentile(proxied, 0.5),
        "proxied_p99": percentile(proxied, 0.99),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="flights")
    parser.add_argument("--span", help="a span with a prediction log and labels (default: the newest)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()
    cfg, roots = load_pipeline(args.pipeline), Roots.resolve()
    predicted = SpanPaths(cfg, roots).predicted_spans()
    if not predicted:
        print("no span with a prediction log: run `make demo` first", file=sys.stderr)
        return 2
    span = args.span or predicted[-1]
    m = bench_monitor(cfg, roots, span, args.repeat)
    ratio = m["monitor_s"] / m["bare_s"]
    print(f"monitoring span {span} ({m['rows']} labelled predictions), median of {args.repeat}:")
    print(f"  bare TFMA over the joined rows   {m['bare_s']:7.2f} s")
    print(f"  monitor (join+TFMA+CBPE+store)   {m['monitor_s']:7.2f} s")
    print(f"  ratio {ratio:.2f} (target <= {MONITOR_TARGET})")
    lg = bench_logger(cfg, roots, span, args.requests)
    added50, added99 = lg["proxied_p50"] - lg["direct_p50"], lg["proxied_p99"] - lg["direct_p99"]
    print(f"prediction-logging service, {lg['requests']} single-instance :predict calls each:")
    print(
        f"  straight to TF Serving (double)  p50 {lg['direct_p50']:6.2f} ms  p99 {lg['direct_p99']:6.2f} ms"
    )
    print(
        f"  through the logging service      p50 {lg['proxied_p50']:6.2f} ms  p99 {lg['proxied_p99']:6.2f} ms"
    )
    print(
        f"  added: p50 {added50:.2f} ms (target <= {P50_TARGET_MS}), p99 {added99:.2f} ms "
        f"(target <= {P99_TARGET_MS})"
    )
    ok = ratio <= MONITOR_TARGET and added50 <= P50_TARGET_MS and added99 <= P99_TARGET_MS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
