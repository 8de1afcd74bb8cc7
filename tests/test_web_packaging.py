"""The web viewer is an extra: the core package installs, imports and extracts without FastAPI/uvicorn."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "yt8m"
WEB_PACKAGES = ("fastapi", "uvicorn", "python-multipart")
WEB_MODULES = ("fastapi", "uvicorn", "starlette", "multipart", "python_multipart")


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].strip().lower() for r in requirements}


def test_web_is_a_real_extra_and_the_test_extra_holds_it() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    assert "web" in extras, "cli/web.py tells users to pip install 'yt8m[web]'"
    assert _names(extras["web"]) >= set(WEB_PACKAGES)
    assert _names(project["dependencies"]).isdisjoint(WEB_PACKAGES)
    test_extra = _names(extras["test"])
    assert set(WEB_PACKAGES) <= test_extra or "yt8m[web]" in {r.replace(" ", "") for r in extras["test"]}
    assert "pip install 'yt8m[web]'" in (SRC / "cli" / "web.py").read_text(encoding="utf-8")


def _module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:  # module level only: imports inside functions are lazy
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_nothing_outside_the_viewer_imports_the_web_packages_at_module_level() -> None:
    allowed = {SRC / "cli" / "web.py"}
    offenders = [str(path.relative_to(ROOT)) for path in sorted(SRC.rglob("*.py"))
                 if SRC / "web" not in path.parents and path not in allowed
                 and _module_level_imports(path) & set(WEB_MODULES)]
    assert offenders == []


_WITHOUT_WEB = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {modules!r}:
            raise ImportError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Block())
from yt8m.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run_without_web(*args: str) -> subprocess.CompletedProcess[str]:
    code = _WITHOUT_WEB.format(modules=set(WEB_MODULES))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          check=False)


def test_cli_works_without_the_web_extra_and_serve_names_it() -> None:
    helped = _run_without_web("--help")
    assert helped.returncode == 0 and "serve" in helped.stdout, helped.stderr
    assert _run_without_web("extract", "--help").returncode == 0
    served = _run_without_web("serve", "--port", "1")
    assert served.returncode == 1 and "Traceback" not in served.stderr
    assert "pip install 'yt8m[web]'" in served.stderr and "web extra" in served.stderr
