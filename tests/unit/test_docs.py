"""The docs cannot lie about the CLI: every `python -m ml ...` and `make ...` line of a code
block in README.md and docs/ names a real command or target with real flags (parsed by the
CLI's own argparse parsers and read off the Makefile); every `ML_*` variable the code reads is
on the environment page; the site builds strictly (`make docs` is also part of `make lint`)."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)


def code_lines(page: Path) -> list[str]:
    """Every command line of the page's fenced blocks (`\\` continuations joined)."""
    lines = []
    for block in FENCE.findall(page.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            lines.append(line.strip())
    return lines


def commands(prefix: str) -> list[tuple[str, list[str]]]:
    """(page, words after the prefix) of every code line that runs `prefix`."""
    found = []
    for page in PAGES:
        for line in code_lines(page):
            line = re.sub(r"^(\.venv/bin/)?python3? ", "python ", line)
            if line.startswith(prefix + " "):
                words = shlex.split(line, comments=True)
                found.append((str(page.relative_to(ROOT)), words[len(prefix.split()) :]))
    return found


ML_COMMANDS = commands("python -m ml")
MAKE_COMMANDS = commands("make")


def test_the_docs_show_commands_to_check():
    assert len(ML_COMMANDS) >= 20 and len(MAKE_COMMANDS) >= 5, (len(ML_COMMANDS), len(MAKE_COMMANDS))


@pytest.mark.parametrize(
    ("page", "argv"), ML_COMMANDS, ids=[f"{p}: {' '.join(a)[:60]}" for p, a in ML_COMMANDS]
)
def test_every_ml_command_in_the_docs_parses(page, argv):
    from ml.cli import build_parser

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            build_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{page}: `python -m ml {' '.join(argv)}` is refused by the CLI: {err.getvalue()}")


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))


@pytest.mark.parametrize(
    ("page", "argv"), MAKE_COMMANDS, ids=[f"{p}: make {' '.join(a)}" for p, a in MAKE_COMMANDS]
)
def test_every_make_target_in_the_docs_exists(page, argv):
    targets = [word for word in argv if "=" not in word and not word.startswith("-")]
    assert targets, f"{page}: `make {' '.join(argv)}` names no target"
    missing = set(targets) - makefile_targets()
    assert not missing, f"{page}: `make {' '.join(argv)}`: no such Makefile target {sorted(missing)}"


def test_every_environment_variable_the_code_reads_is_documented():
    read = set()
    for folder in ("ml", "plugins", "dags", "scripts"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".sh") and path.is_file():
                read |= set(re.findall(r"\b(ML_[A-Z][A-Z0-9_]*[A-Z0-9])\b", path.read_text()))
    page = (ROOT / "docs" / "reference" / "environment.md").read_text()
    missing = sorted(v for v in read if f"`{v}`" not in page)
    assert not missing, f"docs/reference/environment.md lacks {missing}"


def test_the_site_builds_strictly_with_the_generated_references(tmp_path):
    """A broken link or a page left out of the nav fails; the CLI and pipeline.yaml references
    are generated from the code (a flag or key added there appears on the page)."""
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    cli = (tmp_path / "reference" / "cli.html").read_text()
    from ml.cli import command_modules

    for name in command_modules():
        assert f"<code>{name}</code>" in cli, f"the CLI reference lacks {name}"
    assert "--timestamp-unit" in cli  # a flag, read from the parser
    external = {
        tag
        for page in tmp_path.rglob("*.html")
        for tag in re.findall(r"<(?:script|link)[^>]*https?://[^>]*>", page.read_text())
    }
    assert not external, f"the site loads from the network (it must work offline): {external}"
    config = (tmp_path / "reference" / "pipeline-yaml.html").read_text()
    for key in ("monitoring.labels", "evaluation.slice_thresholds", "lag_spans", "retrain_on_alarm"):
        assert key in config, f"the pipeline.yaml reference lacks {key}"
