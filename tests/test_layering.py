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


def _imports(module: str, path: Path) -> list[str]:
    """The yt8m modules ``module`` imports (``from yt8m.x import y`` counts as ``yt8m.x.y``
    when that is a module, else ``yt8m.x``)."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.append(base)
            found += [f"{base}.{alias.name}" for alias in node.names]
    return [name for name in found if name == "yt8m" or name.startswith("yt8m.")]


def test_every_module_imports_only_its_layer_or_lower() -> None:
    modules = _modules()
    assert "yt8m.artifacts" in modules and "yt8m.weights.store" in modules
    upward = []
    for module, path in modules.items():
        mine = _layer(module)
        for imported in _imports(module, path):
            if imported not in modules and imported.rpartition(".")[0] in modules:
                continue  # `from yt8m.x import name`: the module yt8m.x counts, already listed
            if _layer(imported) > mine:
                upward.append(f"{module} (layer {mine}) imports {imported} (layer {_layer(imported)})")
    assert upward == []


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
