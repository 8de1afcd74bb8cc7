"""The package's layers: a module imports only from its own layer or lower ones.

Every ``import`` and ``from ... import`` of a ``yt8m`` module anywhere in a file counts,
including those inside functions (deferred imports still make a dependency). Lowest
layer first; a new top-level module or package must be placed here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: list[tuple[str, ...]] = [
    ("yt8m", "errors", "_files", "_version"),  # "yt8m": the package's __init__ (lazy names only)
    ("formats", "media", "metadata"),
    ("artifacts",),
    ("weights",),
    ("features",),
    ("extraction",),
    ("inference",),
    ("train",),
    ("render",),
    ("web",),
    ("cli", "__main__"),
]
RANK = {name: i for i, group in enumerate(LAYERS) for name in group}

def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "yt8m").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _layer(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "yt8m"
    if key not in RANK:
        raise AssertionError(f"{module}: not in any layer of tests/test_layering.py; place {key!r} there")
    return RANK[key]


def _lazy_names(path: Path) -> dict[str, str]:
    """A package's ``_LAZY`` table (name -> module it is imported from on first use)."""
    for node in ast.parse(path.read_text(), str(path)).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(target, ast.Name) and target.id == "_LAZY":
            return ast.literal_eval(node.value)
    return {}


def _imports(module: str, path: Path, modules: dict[str, Path] | None = None) -> list[str]:
    """The yt8m modules ``module`` imports: ``from yt8m.x import y`` counts as ``yt8m.x.y`` when
    that is a module, as the module a package's ``_LAZY`` table names for ``y``, else as
    ``yt8m.x``; a string ``"yt8m.x"`` given to ``importlib.import_module`` or held in a
    ``_LAZY`` table counts too (except in the root package, whose lazy names are its facade)."""
    modules = _modules() if modules is None else modules
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.append(base)
            lazy = _lazy_names(modules[base]) if base in modules else {}
            found += [lazy.get(alias.name, f"{base}.{alias.name}") for alias in node.names]
    if module != "yt8m":
        lazy_tables = [node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                       and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets)]
        loads = [node.args[0] for node in ast.walk(tree) if isinstance(node, ast.Call) and node.args
                 and isinstance(node.func, (ast.Attribute, ast.Name))
                 and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"]
        for holder in lazy_tables + loads:
            found += [c.value for c in ast.walk(holder) if isinstance(c, ast.Constant)
                      and isinstance(c.value, str) and c.value.startswith("yt8m.")]
    return [name for name in found if name == "yt8m" or name.startswith("yt8m.")]


def _graph() -> dict[str, set[str]]:
    """module -> the yt8m modules it imports (a name that is not a module counts as its module;
    a module's own enclosing packages are left out: Python imports those first anyway)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in _imports(module, path, modules):
            while name not in modules:
                name = name.rpartition(".")[0]
            if name != module and not module.startswith(name + "."):
                targets.add(name)
        graph[module] = targets
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` (its nodes in order, the first repeated last), or [] when it has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_every_module_imports_only_its_layer_or_lower() -> None:
    modules = _modules()
    assert "yt8m.artifacts" in modules and "yt8m.weights.store" in modules
    upward = []
    for module, path in modules.items():
        mine = _layer(module)
        for imported in _imports(module, path, modules):
            if imported not in modules and imported.rpartition(".")[0] in modules:
                continue  # `from yt8m.x import name`: the module yt8m.x counts, already listed
            if _layer(imported) > mine:
                upward.append(f"{module} (layer {mine}) imports {imported} (layer {_layer(imported)})")
    assert upward == []


def test_no_import_cycle_between_modules_or_top_level_packages() -> None:
    graph = _graph()
    assert _cycle(graph) == []
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        top = ".".join(module.split(".")[:2])
        packages.setdefault(top, set()).update(".".join(t.split(".")[:2]) for t in targets)
    for top, targets in packages.items():
        targets.discard(top)
    assert _cycle(packages) == []


def test_the_layering_checks_see_what_they_are_meant_to(tmp_path: Path) -> None:
    # The checks above must fail on the violations they exist for: an upward import through a
    # lazy name or a string, and a cycle.
    source = tmp_path / "m.py"
    source.write_text("from yt8m import Extractor\n"
                      "import importlib\nimportlib.import_module('yt8m.web.app')\n")
    found = _imports("yt8m.media.m", source)
    assert "yt8m.extraction" in found and "yt8m.web.app" in found
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_weights_do_not_import_the_networks() -> None:
    # The cycle this layering removed: yt8m.weights.store imported yt8m.features.* for shapes.
    code = ("import sys, yt8m.weights, yt8m.weights.store, yt8m.artifacts; "
            "print(sorted(m for m in sys.modules if m.startswith(('yt8m.features', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "PATH": ""}).stdout
    assert out.strip() == "[]"


def test_every_deferred_import_resolves() -> None:
    # Imports inside functions run only when their code path does: a renamed module must not
    # leave one behind that fails at the worst moment (it happened: yt8m.weights.download).
    import importlib

    missing = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node,
                               ast.ImportFrom) and not node.level and (node.module or "").startswith("yt8m")):
                continue
            target = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(target, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        missing.append(f"{module}:{node.lineno}: {node.module}.{alias.name}")
    assert missing == []
