"""`python -m ml <command> --pipeline NAME [...]`.

Every command lives in its own module under `ml/commands/` (discovered, no registry to edit)
exposing `HELP`, `add_arguments(parser)` and `run(args, cfg, roots)`, which returns its typed
artifact (ml.artifact.Artifact: the result is its fields but the `detail` ones, the summary its
own) or a dict (summarized by the module's `summary(result)`, when it has one). `--pipeline` is
required as soon as ml/pipelines/ holds more than one pipeline (no command falls back to one). The CLI prints
the result as one final JSON line on stdout (or, when it holds `text`, that text: a table) and
its one-line summary on stderr, with the logs. A `PipelineError` becomes a one-paragraph message
on stderr and exit code 2; a command may ask for another exit code with `result["exit_code"]`.
`--outcome FILE` also writes the result, or the error's fields, to FILE (ml.artifact.StepOutcome):
what a runner in another process or container reads instead of the logs.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import pkgutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ml import commands
from ml.artifact import Artifact, StepOutcome
from ml.config import available_pipelines, load_pipeline
from ml.errors import PipelineError
from ml.logs import quiet_libraries
from ml.roots import Roots

EXIT_ERROR = 2
TEXT_KEY = "text"  # a command's human-readable output (a table), printed instead of the JSON


def command_modules() -> dict[str, ModuleType]:
    mods = {}
    for info in pkgutil.iter_modules(commands.__path__):
        if not info.name.startswith("_"):
            module = importlib.import_module(f"{commands.__name__}.{info.name}")
            mods[getattr(module, "NAME", info.name.replace("_", "-"))] = module
    return dict(sorted(mods.items()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pipelines = available_pipelines()
    only = pipelines[0] if len(pipelines) == 1 else None  # no hidden default among several
    for name, module in command_modules().items():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        if getattr(module, "PIPELINE", True):  # False: the command makes the pipeline
            cmd.add_argument(
                "--pipeline",
                default=only,
                required=only is None,
                help=f"pipeline folder under ml/pipelines/ ({', '.join(pipelines) or 'none yet'})"
                + (f"; default: {only}, the only one" if only else ""),
            )
        cmd.add_argument("--data-root", help="landing zone (env ML_DATA_ROOT)")
        cmd.add_argument("--artifact-root", help="artifacts (env ML_ARTIFACT_ROOT)")
        cmd.add_argument("--serving-root", help="TF Serving model base paths (env ML_SERVING_ROOT)")
        cmd.add_argument(
            "--outcome",
            type=Path,
            help="also write the result, or the error's fields, to this JSON file (atomically): "
            "what a runner reads back from a subprocess or container",
        )
        module.add_arguments(cmd)
        cmd.set_defaults(_module=module)
    return parser


@dataclass(frozen=True)
class StepRun:
    """What one command gave: its result (JSON-safe dict) and its one-line summary."""

    command: str
    result: dict[str, Any]
    summary: str | None


def step_run(command: str, module: ModuleType, value: Artifact | dict[str, Any]) -> StepRun:
    """A command's return value as its result and summary (see the module docstring)."""
    if isinstance(value, Artifact):
        return StepRun(command, {"command": command, **value.result()}, value.summary())
    summarize = getattr(module, "summary", None)
    return StepRun(command, value, summarize(value) if summarize else None)


def run_step(argv: Sequence[str]) -> StepRun:
    """Parse and run one command in-process; raises PipelineError on failure."""
    args = build_parser().parse_args(list(argv))
    cfg = load_pipeline(args.pipeline) if getattr(args, "pipeline", None) else None
    roots = Roots.resolve(args.data_root, args.artifact_root, args.serving_root)
    try:
        ran = step_run(args.command, args._module, args._module.run(args, cfg, roots))
    except PipelineError as exc:
        if args.outcome:
            StepOutcome.failed(args.command, exc).write(args.outcome)
        raise
    if args.outcome:
        StepOutcome.succeeded(args.command, json.loads(strict_json(ran.result))).write(args.outcome)
    return ran


def run_command(argv: Sequence[str]) -> dict:
    """Parse and run one command in-process -> its result; raises PipelineError on failure."""
    return run_step(argv).result


def strict_json(result: Any) -> str:
    """The result as valid JSON: NaN and infinities (an undefined metric) become null."""
    loose = json.dumps(result, sort_keys=True, default=str)
    return json.dumps(json.loads(loose, parse_constant=lambda _: None), sort_keys=True)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    quiet_libraries()
    try:
        ran = run_step(sys.argv[1:] if argv is None else argv)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    result = ran.result
    code = int(result.pop("exit_code", 0))
    if ran.summary:
        print(ran.summary, file=sys.stderr, flush=True)
    text = result.pop(TEXT_KEY, None)
    print(text if text is not None else strict_json(result), flush=True)
    return code
