"""The quality gates stay one set: `make lint` (ruff check, ruff format --check, mypy), the
pre-commit hooks (the lock's tools, nothing fetched) and CI (.ci/run and the GitHub workflow
calling the same make targets, all of which exist)."""

from __future__ import annotations

import importlib.metadata
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = ".venv/bin/python"  # the Makefile's $(PY)
REQUIRED_HOOKS = {
    "ruff-check",
    "ruff-format",
    "mypy",
    "end-of-file-fixer",
    "trailing-whitespace",
    "check-added-large-files",
    "check-merge-conflict",
}
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def lock_pins() -> dict[str, str]:
    """`{normalized name: version}` of requirements.txt."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if match:
            pins[_normalize(match.group(1))] = match.group(2)
    return pins


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution_of(module: str) -> str:
    """The installed distribution that provides the top-level package of `module`."""
    top = module.split(".")[0]
    dists = importlib.metadata.packages_distributions().get(top)
    assert dists, f"no installed distribution provides {top!r}"
    return _normalize(dists[0])


# ---- pre-commit


def test_every_pre_commit_hook_runs_the_tool_of_the_lock():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    pins, seen = lock_pins(), set()
    for repo in config["repos"]:
        for hook in repo["hooks"]:
            seen.add(hook["id"])
            deps = hook.get("additional_dependencies", [])
            for dep in deps:  # a pinned extra dependency must be the lock's version
                name, _, version = dep.partition("==")
                assert pins.get(_normalize(name)) == version, f"{hook['id']}: {dep} is not the lock's pin"
            if repo["repo"] == "local":
                assert hook["language"] == "system" or deps, f"{hook['id']}: runs no locked tool"
                argv = shlex.split(hook["entry"])
                assert argv[:2] == [VENV_PYTHON, "-m"], f"{hook['id']}: entry must be `{VENV_PYTHON} -m ...`"
                dist = _distribution_of(argv[2])
                assert dist in pins, f"{hook['id']}: {dist} is not in requirements.txt"
                assert importlib.metadata.version(dist) == pins[dist], f"{dist}: venv is not the lock"
            elif repo["repo"] != "meta":  # a hook repository: its rev is the tool's version
                tool = re.sub(r"^mirrors-|-pre-commit$", "", repo["repo"].rstrip("/").split("/")[-1])
                assert repo["rev"].lstrip("v") == pins.get(_normalize(tool)), (
                    f"{repo['repo']} rev {repo['rev']} differs from the lock's {tool}=={pins.get(tool)}"
                )
    assert REQUIRED_HOOKS <= seen, f"missing hooks: {sorted(REQUIRED_HOOKS - seen)}"
    assert "pre-commit" in pins and "pre-commit-hooks" in pins


# ---- make lint


def test_make_lint_runs_every_gate():
    recipe = makefile_recipe("lint")
    for command in ("-m ruff check", "-m ruff format --check", "-m mypy"):
        assert command in recipe, f"`make lint` lacks `{command}`"
    assert "lint" in makefile_recipe_prerequisites("test")  # make test = lint + pytest


def test_the_type_checker_fails_on_a_mistyped_call(tmp_path):
    """What `make lint` runs, on one file that calls a real project function wrongly."""
    bad = tmp_path / "mistyped.py"
    bad.write_text(
        "from pathlib import Path\n\n"
        "from ml.tfrecord import write_tfrecords\n\n"
        'count: int = write_tfrecords(Path("x.tfrecord.gz"), [1, 2])  # records must be bytes\n'
    )
    good = tmp_path / "typed.py"
    good.write_text(
        "from pathlib import Path\n\n"
        "from ml.tfrecord import write_tfrecords\n\n"
        'count: int = write_tfrecords(Path("x.tfrecord.gz"), [b"1", b"2"])\n'
    )

    def mypy(path: Path) -> subprocess.CompletedProcess:
        # the project's configuration and cache (warm after `make lint`), this one file
        cmd = [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", str(path)]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)

    failed = mypy(bad)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "mistyped.py:5: error:" in failed.stdout and "[list-item]" in failed.stdout, failed.stdout
    passed = mypy(good)
    assert passed.returncode == 0, passed.stdout + passed.stderr


# ---- CI: .ci/run and the GitHub workflow


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9][\w.-]*)\s*:(?!=)", text, re.MULTILINE)}


def _makefile_rule(target: str) -> re.Match:
    text = (ROOT / "Makefile").read_text()
    match = re.search(rf"^{re.escape(target)}\s*:(?!=)([^\n]*)\n((?:\t[^\n]*\n)*)", text, re.MULTILINE)
    assert match, f"the Makefile has no `{target}` rule"
    return match


def makefile_recipe(target: str) -> str:
    return _makefile_rule(target).group(2)


def makefile_recipe_prerequisites(target: str) -> list[str]:
    return _makefile_rule(target).group(1).split()


MAKE_OPTIONS_WITH_VALUE = {"-C", "-f", "-I", "-o", "-W", "--directory", "--file", "--makefile"}
COMMAND_PREFIXES = {"sudo", "env", "time", "exec"}
SEPARATORS = {"&&", "||", ";", "|", "&"}


def _words(line: str) -> list[str]:
    """Shell words of one line, `;`, `&&`, `|` ... as words of their own; comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # a quote left open (continued on the next line): no make call to read
        return []


def _make_call_targets(command: list[str]) -> list[str]:
    while command and (command[0] in COMMAND_PREFIXES or re.fullmatch(r"[A-Za-z_]\w*=.*", command[0])):
        command = command[1:]  # sudo, env, VAR=value before the command
    if not command or Path(command[0]).name != "make":
        return []
    targets, args = [], iter(command[1:])
    for arg in args:
        if arg in MAKE_OPTIONS_WITH_VALUE:
            next(args, None)
        elif not arg.startswith("-") and "=" not in arg:  # not an option, not VAR=value
            targets.append(arg)
    return targets


def make_targets(script: str) -> list[str]:
    """The make targets a shell snippet names: `make [options] [VAR=value] target...`, also
    after `sudo`, `&&`, `;` or `|`; comments ignored."""
    targets: list[str] = []
    for line in script.splitlines():
        command: list[str] = []
        for word in [*_words(line), ";"]:
            if word in SEPARATORS:
                targets += _make_call_targets(command)
                command = []
            else:
                command.append(word)
    return targets


def workflow_make_targets() -> list[str]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    runs = [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]
    return [target for run in runs for target in make_targets(run)]


@pytest.mark.parametrize(
    ("script", "targets"),
    [
        ("make lint", ["lint"]),
        (
            "sudo make base-image && make -C . trainer-image BASE_IMAGE=local/x:1",
            ["base-image", "trainer-image"],
        ),
        ('t=$SECONDS; make lint; log "lint"  # make demo', ["lint"]),
        ("ML_REQUIRE_DOCKER=1 make test browser-test", ["test", "browser-test"]),
        ("python -m uv cache prune --ci\nbash .ci/run", []),
    ],
)
def test_make_target_extraction(script, targets):
    assert make_targets(script) == targets


def test_ci_run_and_the_workflow_call_the_same_existing_make_targets():
    workflow = workflow_make_targets()
    ci_run = make_targets((ROOT / ".ci" / "run").read_text())
    known = makefile_targets()
    assert {"lint", "test", "base-image", "trainer-image"} <= set(ci_run), ci_run
    assert sorted(set(workflow)) == sorted(set(ci_run)), f"workflow {workflow} vs .ci/run {ci_run}"
    missing = sorted(set(workflow + ci_run) - known)
    assert not missing, f"make targets the Makefile lacks: {missing}"
    # every test target of the Makefile runs in CI (e.g. browser-test, once the Makefile has it)
    test_targets = {t for t in known if t == "test" or t.endswith("-test")}
    assert test_targets <= set(ci_run), f"test targets CI does not run: {sorted(test_targets - set(ci_run))}"


def test_workflow_pins_python_and_caches_uv():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    setup = [s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@")]
    assert setup and setup[0]["with"]["python-version"] == "3.11"
    caches = [s for s in steps if str(s.get("uses", "")).startswith("actions/cache@")]
    assert any(s["with"]["path"] == "~/.cache/uv" for s in caches)
