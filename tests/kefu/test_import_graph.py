"""The import graph has no cycles, between modules or between apps (docs/architecture.md,
"Layers"). Every import counts, also those inside functions: a lazy import hides a cycle from
Python, not from a reader. Imports under `if TYPE_CHECKING:` are annotations only and skipped.

The composition root (settings, URL confs, the ASGI/WSGI/Celery entry points and the
project-wide management commands in `ops`) wires every app together, and nothing imports it, so it is a
node of its own here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "kefu",
    "accounts",
    "merchants",
    "knowledge",
    "conversations",
    "notifications",
    "webhooks",
    "widget",
    "reports",
    "ops",
)
COMPOSITION_ROOT = (
    "kefu.settings",
    "kefu.urls",
    "kefu.api_urls",
    "kefu.asgi",
    "kefu.wsgi",
    "kefu.celery",
    "ops",
)
# Lower never imports higher (docs/architecture.md).
# accounts (the user model and login) sits above merchants: its admin manages memberships, and
# no app imports it (foreign keys name settings.AUTH_USER_MODEL).
LAYERS = [
    "kefu",
    "merchants",
    "accounts",
    "knowledge",
    "conversations",
    "notifications",
    "webhooks",
    "widget",
    "reports",
    "root",
]


def _modules() -> dict[str, Path]:
    found = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts:
                continue
            name = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(id(n) for n in ast.walk(child))
    return skipped


def _from_module(node: ast.ImportFrom, package: str) -> str:
    """The absolute name of the module a `from ... import` reads from."""
    base = node.module or ""
    if not node.level:
        return base
    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*parts, base] if base else parts)


def import_graph() -> dict[str, set[str]]:
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
        return None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        skipped = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _from_module(node, package)
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for target in targets:
                found = resolve(target)
                if found and found != name:
                    graph[name].add(found)
                    break  # `from a import b` counts once, as a.b if it is a module, else a
    return graph


def app_of(module: str) -> str:
    if module == "kefu" or module.startswith(COMPOSITION_ROOT):  # kefu/__init__ loads Celery
        return "root"
    return module.split(".")[0]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_checker_sees_a_lazy_import_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_another_in_a_cycle():
    assert cycles(import_graph()) == []


def test_apps_import_only_lower_layers():
    wrong = set()
    for module, targets in import_graph().items():
        for target in targets:
            low, high = app_of(module), app_of(target)
            if LAYERS.index(high) > LAYERS.index(low):
                wrong.add(f"{module} -> {target}")
    assert sorted(wrong) == []


def private_imports() -> list[str]:
    """`from m import _name` where m is another module of the apps or bench/: a leading
    underscore says "only this module uses it", so another module reaching in is wiring nobody
    sees (issue 11: `services._append`)."""
    modules = _modules()
    for path in (ROOT / "bench").rglob("*.py"):
        modules[".".join(path.relative_to(ROOT).with_suffix("").parts)] = path
    wrong = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = _from_module(node, package)
            if base not in modules or base == name:
                continue
            for alias in node.names:
                private = alias.name.startswith("_") and not alias.name.startswith("__")
                if private and f"{base}.{alias.name}" not in modules:  # a module is no name
                    wrong.append(f"{name}: from {base} import {alias.name}")
    return wrong


def test_no_module_imports_another_modules_private_names():
    assert private_imports() == []
