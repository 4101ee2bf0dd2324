"""The package's shape: every module imports alone, and layers only import the layers below them.

Layers, lowest first: core (and cli, the commands' shared argument parser) -> data -> judge, report -> lmms
-> rl, testing, demo and the command line. A module may import its own layer and those below; an import circle between modules fails
too. Imports are read from the source (``ast``), including those inside functions, because a
lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "proactivebench_ext"
RANK = {"cli": 0, "core": 0, "data": 1, "judge": 2, "report": 2, "lmms": 3, "rl": 4, "testing": 4, "demo": 4, "__main__": 5,
        "__init__": 5}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("proactivebench_ext", *parts)).removesuffix(".__init__")
        found[name] = path
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported(module: str, path: Path) -> set[str]:
    """Our modules that ``module`` imports, resolved to module names."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    known = modules()
    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        targets = []
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(filter(None, [package.rsplit(".", node.level - 1)[0] if node.level > 1 else package, base]))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target.startswith("proactivebench_ext") and target != module:
                out.add(target)
    return out


def test_layers_only_import_downwards():
    wrong = []
    for module, path in modules().items():
        if layer(module) not in RANK:
            wrong.append(f"{module}: not in a known layer; add its folder to RANK in this test")
            continue
        for target in imported(module, path):
            if target == "proactivebench_ext":
                continue  # the lazy root re-exports
            if RANK[layer(target)] > RANK[layer(module)]:
                wrong.append(f"{module} imports {target} ({layer(module)} -> {layer(target)})")
    assert wrong == []


def test_no_import_circles():
    graph = {module: imported(module, path) - {"proactivebench_ext"} for module, path in modules().items()}
    graph = {module: {t for t in targets if not module.startswith(t + ".")} for module, targets in graph.items()}
    circles = []

    def visit(node: str, trail: list[str]) -> None:
        if node in trail:
            circles.append(" -> ".join(trail[trail.index(node):] + [node]))
            return
        for target in sorted(graph.get(node, ())):
            if target in graph and (node, target) not in seen:
                seen.add((node, target))
                visit(target, [*trail, node])

    seen: set[tuple[str, str]] = set()
    for module in sorted(graph):
        visit(module, [])
    assert circles == []


def test_core_imports_nothing_heavy():
    heavy = {"torch", "lmms_eval", "datasets", "transformers", "PIL", "numpy"}
    found = []
    for module, path in modules().items():
        if layer(module) != "core":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found += [f"{module}: {name}" for name in names if name.split(".")[0] in heavy]
    assert found == []
