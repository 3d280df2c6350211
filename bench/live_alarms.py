"""The live model's alarms, measured: how often a span with no change alarms, and how often a real
drop is caught, on simulated flights-like spans judged by the monitor's own code
(tests/monitoring_simulation.py, ml/monitoring/judge.py; the flights alarm slices: Overall and
three origins; false_alarm_rate 0.01; a reference of 14 spans, references drawn afresh).

    .venv/bin/python bench/live_alarms.py [--spans 2000] [--power-spans 400] [--smoke]

Prints, per span size n: the false-alarm rate over --spans spans with no change (target: at most
1.5 x the configured rate) and the detection power for planted AUC drops of about 0.05 and 0.10
(the drop actually planted is measured: the mean realized AUC with it vs without).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from _smoke import exit_code, parse_args

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from monitoring_simulation import draw, flights_spec, judge, reference  # noqa: E402

AUC_LOSS_PER_UNRELATED = 0.28  # how much a share of labels ignoring the score lowers this model's AUC
RATE_TARGET = 1.5  # measured false-alarm rate <= RATE_TARGET x the configured rate


def run(spec, n: int, spans: int, references: int, unrelated: float, seed: int) -> tuple[float, float]:
    """(share of spans that alarm, mean realized Overall AUC)."""
    rng = np.random.default_rng(seed)
    alarms, values = 0, []
    for _ in range(references):
        ref = reference(rng)
        for _ in range(max(1, spans // references)):
            verdict = judge(spec, ref, draw(rng, n, unrelated))
            alarms += bool(verdict["alarms"])
            values.append(verdict["realized"])
    return alarms / len(values), float(np.mean(values))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=2000, help="spans with no change per n")
    parser.add_argument("--power-spans", type=int, default=400, help="spans with a planted drop per cell")
    args = parse_args(parser, spans=40, power_spans=20)
    spans, power_spans, refs = args.spans, args.power_spans, 2 if args.smoke else 20
    spec = flights_spec()
    rate = spec.false_alarm_rate
    slices, least = len(spec.alarm_slices), spec.min_labelled
    print(f"false_alarm_rate {rate} per span over {slices} alarm slices; min_labelled {least}")
    print("    n | no change: alarms  (target) | planted drop ~0.05: drop  power | ~0.10: drop  power")
    ok = True
    for n in (300, 900):
        null_rate, null_auc = run(spec, n, spans, refs, 0.0, seed=n)
        cells = []
        for drop in (0.05, 0.10):
            power, value = run(spec, n, power_spans, refs, drop / AUC_LOSS_PER_UNRELATED, seed=n + 1)
            cells.append(f"{null_auc - value:5.3f} {power:6.1%}")
        met = null_rate <= RATE_TARGET * rate
        ok &= met
        print(
            f"{n:5d} | {null_rate:15.2%}  (<= {RATE_TARGET * rate:.1%} {'met' if met else 'NOT met'}) | "
            + " | ".join(cells)
        )
    return exit_code(ok, args)


if __name__ == "__main__":
    sys.exit(main())
