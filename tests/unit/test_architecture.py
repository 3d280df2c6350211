"""Layering rules: ml/ is plain Python and never imports Airflow; the project's imports form no
circle; the steps (ml/model, ml/data) never import the layers above them.

The import graph is built from the source with `ast` (nothing is imported): every `import` and
`from ... import` anywhere in a module (top level, functions, `if TYPE_CHECKING:`), relative
imports resolved against the module's package, and `from package import name` counted as an
import of the submodule `package.name` when that is a module of the project.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each source folder and the folder Python imports it from: ml from the project root, ml_airflow
# from plugins/ (Airflow's plugins folder), the DAG files from dags/.
SOURCES = ((ROOT / "ml", ROOT), (ROOT / "plugins", ROOT / "plugins"), (ROOT / "dags", ROOT / "dags"))
STEP_LAYERS = ("ml.model", "ml.data")
ABOVE_THE_STEPS = ("ml.serving", "ml.commands", "ml.cli")
# Top to bottom: a module imports only from its own layer or below (the ground floor is the rest
# of ml/: config, spans, roots, atomic, errors, ...).
LAYERS = (
    ("the DAG files", ("ml_pipelines",)),
    ("the Airflow components", ("ml_airflow", "ml_airflow_plugin", "airflow_local_settings")),
    ("the CLI", ("ml.cli", "ml.__main__", "ml.commands")),
    ("the features", ("ml.monitoring", "ml.scaffold", "ml.results")),
    ("serving", ("ml.serving",)),
    ("the steps", ("ml.model", "ml.data", "ml.pipelines")),
)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def project_modules() -> dict[str, Path]:
    """`{dotted module name: file}` of every module under ml/, plugins/ and dags/."""
    modules: dict[str, Path] = {}
    for folder, base in SOURCES:
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    """The project module that importing `name` runs last: its longest known prefix."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def module_imports(module: str, path: Path, modules: Mapping[str, Path]) -> set[str]:
    """The project modules that `module` imports (anywhere in its file)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found = [_resolve(alias.name, modules) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: `.` is the module's package, `..` its parent, ...
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else _resolve(base, modules)
                for alias in node.names
            ]
        else:
            continue
        targets.update(t for t in found if t and t != module)
    return targets


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: module_imports(name, path, modules) for name, path in sorted(modules.items())}


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One import circle per strongly connected component with more than one module, each as
    `[a, b, ..., a]` (Tarjan's algorithm, then a shortest path back to the first module)."""
    edges = {node: sorted(set(targets)) for node, targets in graph.items()}
    for targets in list(edges.values()):
        for target in targets:
            edges.setdefault(target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:  # recursion depth = longest import chain: small here
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            connect(node)

    return [_shortest_cycle(edges, component) for component in sorted(components)]


def _shortest_cycle(edges: Mapping[str, list[str]], component: list[str]) -> list[str]:
    """A shortest circle from the component's first module back to itself (breadth first)."""
    members, start = set(component), component[0]
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in edges[node]:
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target in members and target not in came_from:
                came_from[target] = node
                queue.append(target)
    raise AssertionError(f"{component} is not strongly connected")


def test_ml_never_imports_airflow():
    offenders = {
        str(p.relative_to(ROOT)): sorted(m for m in _imported_modules(p) if m.split(".")[0] == "airflow")
        for p in (ROOT / "ml").rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"ml/ must not import Airflow: {offenders}"
    assert len(list((ROOT / "ml").rglob("*.py"))) > 5  # the walk really saw the package


def test_the_import_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert {"ml.cli", "ml.model.evaluate", "ml_airflow.train", "ml_pipelines"} <= set(graph)
    assert "ml.pipelines.flights.module" in graph  # folders without __init__.py too
    assert "ml_airflow.train_command" in graph["ml_airflow.docker_train"]  # from x import y
    assert "ml_airflow.docker_train" in graph["ml_airflow.train"]  # inside a function
    assert "ml.commands" in graph["ml.cli"]  # `from ml import commands`: the package itself
    assert "ml.config" in graph["ml_airflow.operators"]


def test_relative_imports_resolve_against_the_package(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import a\n")
    (pkg / "a.py").write_text("from .sub import b\nfrom .sub.b import thing\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import a\n    from ..a import g\n")
    modules = {"pkg": pkg / "__init__.py", "pkg.a": pkg / "a.py", "pkg.sub": pkg / "sub" / "__init__.py"}
    modules["pkg.sub.b"] = pkg / "sub" / "b.py"
    graph = {name: module_imports(name, path, modules) for name, path in modules.items()}
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.sub.b"}, "pkg.sub": set(), "pkg.sub.b": {"pkg.a"}}
    assert find_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.a"]]


@pytest.mark.parametrize(
    ("graph", "cycles"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b", "a"]]),
        ({"d": {"a"}, "a": {"b"}, "b": {"c"}, "c": {"a", "e"}, "e": set()}, [["a", "b", "c", "a"]]),
        (
            {"a": {"b"}, "b": {"a"}, "x": {"y"}, "y": {"z"}, "z": {"x"}},
            [["a", "b", "a"], ["x", "y", "z", "x"]],
        ),
        ({"a": {"b", "c"}, "b": {"c"}, "c": {"a"}}, [["a", "c", "a"]]),  # the shortest way back
    ],
)
def test_the_cycle_finder_finds_every_circle(graph, cycles):
    assert find_cycles(graph) == cycles


def test_no_import_circles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import circles (move what both sides need into a module both import):\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )


def test_the_steps_never_import_the_layers_above_them():
    """ml/model and ml/data are plain steps over paths and configs: the CLI, its commands and
    the serving side call them (and pass in what they resolved, e.g. the served baseline)."""

    def within(name: str, prefixes: tuple[str, ...]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    up = {
        module: sorted(t for t in targets if within(t, ABOVE_THE_STEPS))
        for module, targets in import_graph().items()
        if within(module, STEP_LAYERS)
    }
    up = {module: targets for module, targets in up.items() if targets}
    assert not up, f"ml/model and ml/data must not import {', '.join(ABOVE_THE_STEPS)}: {up}"


def layer_of(module: str) -> int:
    """The module's layer, 0 at the top; the ground floor below every named layer."""
    for depth, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(f"{p}.") for p in prefixes):
            return depth
    return len(LAYERS)


def test_no_module_imports_from_a_layer_above_its_own():
    graph = import_graph()
    climbs = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) < layer_of(module)
    )
    assert climbs == [], "imports that climb a layer: " + "; ".join(climbs)
    assert layer_of("ml.model.evaluate") > layer_of("ml.monitoring.reference")  # the steps stay below


# ---- one layout: every artifact path comes from the layout modules
LAYOUT_MODULES = ("ml.spans", "ml.model.layout", "ml.serving.layout")
FILE_NAME = r"^[a-z_]+(\.(json|pb|pbtxt|tfrecord|gz|config))+$"  # not .html: the UI's templates share names


def _string_constants(tree: ast.AST) -> list[ast.Constant]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def layout_names() -> tuple[set[str], set[str]]:
    """(artifact file names, artifact folder names) the layout modules spell out."""
    import re

    modules = project_modules()
    files, folders = set(), set()
    for name in LAYOUT_MODULES:
        tree = ast.parse(modules[name].read_text())
        files |= {c.value for c in _string_constants(tree) if re.match(FILE_NAME, c.value)}
        folders |= {
            n.right.value
            for n in ast.walk(tree)
            if isinstance(n, ast.BinOp)
            and isinstance(n.op, ast.Div)
            and isinstance(n.right, ast.Constant)
            and isinstance(n.right.value, str)
            and "." not in n.right.value
        }
    return files, folders


def path_literals(path: Path, files: set[str], folders: set[str]) -> list[str]:
    """`line: literal` of each artifact name spelled out in a module: a layout file name as a
    string, or `<path> / "<layout folder>"`."""
    tree = ast.parse(path.read_text())
    found = [f"{c.lineno}: {c.value!r}" for c in _string_constants(tree) if c.value in files]
    found += [
        f"{n.lineno}: / {n.right.value!r}"
        for n in ast.walk(tree)
        if isinstance(n, ast.BinOp)
        and isinstance(n.op, ast.Div)
        and isinstance(n.right, ast.Constant)
        and n.right.value in folders
    ]
    return found


def test_the_path_literal_finder_finds_both_kinds(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('from pathlib import Path\nx = Path("a") / "evaluations"\ny = "blessing.json"\n')
    found = path_literals(module, {"blessing.json"}, {"evaluations"})
    assert found == ["3: 'blessing.json'", "2: / 'evaluations'"]


def test_every_artifact_path_comes_from_the_layout():
    """A file or folder name of the artifact layout spelled out anywhere but the layout modules
    (ml/spans.py, ml/model/layout.py, ml/serving/layout.py) is a second map that drifts."""
    files, folders = layout_names()
    assert {"blessing.json", "monitor.json", "summary.json", "train_result.json"} <= files
    assert {"spans", "monitoring", "evaluations", "tfma"} <= folders
    spelled = {
        name: found
        for name, path in project_modules().items()
        if name not in LAYOUT_MODULES and not name.startswith("ml.pipelines.")
        if (found := path_literals(path, files, folders))
    }
    assert not spelled, f"artifact paths outside the layout: {spelled}"
