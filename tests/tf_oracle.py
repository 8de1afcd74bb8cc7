"""TensorFlow as an independent oracle, always in a subprocess.

TensorFlow is a test-only dependency. Running it in its own process keeps it away
from torch (importing both in one process can crash) and from yt8m's own protobuf
classes. ``run_tf(code, **args)`` runs ``code`` with ``tf``, ``np`` and ``args`` (a
dict of the JSON-encoded keyword arguments) defined; the code sets ``result``, which
comes back JSON-decoded.

When TensorFlow is not installed the calling test is skipped, unless
``YT8M_REQUIRE_ORACLE=1`` (as in CI), where that is a failure.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

_PRELUDE = """
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
import tensorflow as tf
args = json.loads(open(sys.argv[1]).read())
result = None
"""
_EPILOGUE = """
sys.stdout.write("\\n@@RESULT@@" + json.dumps(result))
"""


@functools.cache
def tensorflow_available() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True)
    return probe.returncode == 0


def require_tensorflow() -> None:
    if tensorflow_available():
        return
    if os.environ.get("YT8M_REQUIRE_ORACLE") == "1":
        pytest.fail("TensorFlow (the test oracle) is not installed but YT8M_REQUIRE_ORACLE=1")
    pytest.skip("TensorFlow (test oracle) not installed: pip install -e '.[test]'")


def run_tf(code: str, tmp_path: Any, timeout: float = 600, **args: Any) -> Any:
    """Run ``code`` under TensorFlow in a subprocess and return its ``result``."""
    require_tensorflow()
    args_file = tmp_path / "tf_oracle_args.json"
    args_file.write_text(json.dumps(args))
    script = _PRELUDE + textwrap.dedent(code) + _EPILOGUE
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-c", script, str(args_file)], capture_output=True,
                          text=True, timeout=timeout, env=env)
    if proc.returncode != 0 or "@@RESULT@@" not in proc.stdout:
        raise AssertionError(f"TensorFlow oracle failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.rsplit("@@RESULT@@", 1)[1])
