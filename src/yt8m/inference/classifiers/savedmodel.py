"""TensorFlow SavedModels with the baseline's signature, run in a worker process.

The official baseline (see docs/artifacts.md, 'Baseline classifier') is a TF1 SavedModel:
tag ``serve``, signature ``serving_default``, inputs ``rgb_and_audio`` float32
[batch, frames, 1152] and ``num_frames`` int32 [batch, 1], output ``predictions``
[batch, classes]. TensorFlow is an optional dependency (``pip install tensorflow``, in
this Python or another one, see below): it runs in its own process
(:mod:`yt8m.inference.classifiers.tf_worker`), never in the one that holds torch, and
batches travel over a pipe as raw float32.

``$YT8M_TF_PYTHON`` names the Python to run it with (default: this one), so TensorFlow
may live in a separate environment.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from yt8m.errors import InputError, Yt8mError
from yt8m.inference.classifiers.base import FEATURE_SIZE, Classifier, check_batch

log = logging.getLogger(__name__)

TF_PYTHON_ENV = "YT8M_TF_PYTHON"
_WORKER = Path(__file__).with_name("tf_worker.py")
_MAX_MESSAGE = 2000


class SavedModelError(Yt8mError):
    """The TensorFlow worker failed to load or run a SavedModel."""

    exit_code = 3


def _trim(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + " ..."


class SavedModelClassifier(Classifier):
    """A SavedModel with the baseline signature, behind the :class:`Classifier` interface."""

    def __init__(self, path: str | os.PathLike[str], *, python: str | None = None,
                 startup_timeout_s: float = 300.0) -> None:
        self.path = Path(path)
        self.python = python or os.environ.get(TF_PYTHON_ENV) or sys.executable
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        try:
            self._process = subprocess.Popen([self.python, str(_WORKER), str(self.path)],
                                             stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        except OSError as exc:
            self._stderr.close()
            raise SavedModelError(f"cannot start {self.python} to run TensorFlow ({exc.strerror}); "
                                  f"set {TF_PYTHON_ENV} to a Python with TensorFlow") from exc
        hello = self._read_hello()
        self.num_classes = int(hello["num_classes"])
        self.tensorflow_version = str(hello.get("tensorflow"))
        feature_size = hello.get("feature_size")
        if feature_size not in (-1, None, FEATURE_SIZE):
            self.close()
            raise InputError(f"{self.path}: the SavedModel takes features of {feature_size} values per "
                             f"second; YouTube-8M features have {FEATURE_SIZE} (rgb 1024 + audio 128)")
        log.info("loaded SavedModel %s (%d classes) with TensorFlow %s", self.path, self.num_classes,
                 self.tensorflow_version)

    @property
    def _stdin(self) -> BinaryIO:
        assert self._process.stdin is not None
        return self._process.stdin  # type: ignore[return-value]

    @property
    def _stdout(self) -> BinaryIO:
        assert self._process.stdout is not None
        return self._process.stdout  # type: ignore[return-value]

    def _worker_stderr(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return _trim("\n".join(lines[-15:]))

    def _read_hello(self) -> dict[str, Any]:
        line = self._stdout.readline()
        try:
            hello = json.loads(line) if line else None
        except ValueError:
            hello = None
        if not hello or not hello.get("ok"):
            self._process.wait(timeout=60)
            error = hello.get("error") if hello else None
            stderr = self._worker_stderr()
            self._stderr.close()
            if "No module named 'tensorflow'" in (error or stderr):
                raise SavedModelError(
                    f"{self.path} is a TensorFlow SavedModel, and {self.python} has no TensorFlow. Install "
                    f"it (pip install tensorflow) or set {TF_PYTHON_ENV} to a Python that has it")
            raise SavedModelError(f"{self.path}: TensorFlow cannot load this SavedModel: "
                                  f"{_trim(error or stderr or 'the worker exited without a word')}")
        return hello

    def describe(self) -> dict[str, Any]:
        return {"kind": "savedmodel", "path": str(self.path), "num_classes": self.num_classes,
                "tensorflow": self.tensorflow_version}

    def predict(self, features: npt.ArrayLike, num_frames: npt.ArrayLike) -> npt.NDArray[np.float32]:
        x, n = check_batch(features, num_frames)
        if x.shape[0] == 0:
            return np.zeros((0, self.num_classes), np.float32)
        if self._process is None:
            raise SavedModelError(f"{self.path}: the classifier is closed")
        if self._process.poll() is not None:
            raise SavedModelError(f"{self.path}: the TensorFlow worker has exited: {self._worker_stderr()}")
        try:
            self._stdin.write(b"P" + struct.pack("<III", *x.shape))
            self._stdin.write(np.ascontiguousarray(x).data)
            self._stdin.write(n.astype(np.int32).tobytes())
            self._stdin.flush()
            kind = self._stdout.read(1)
            if kind == b"R":
                batch, classes = struct.unpack("<II", self._stdout.read(8))
                data = self._stdout.read(batch * classes * 4)
                return np.frombuffer(data, np.float32).reshape(batch, classes).copy()
            if kind == b"E":
                (size,) = struct.unpack("<I", self._stdout.read(4))
                message = self._stdout.read(size).decode("utf-8", "replace")
                raise SavedModelError(f"{self.path}: TensorFlow failed on a batch of shape {x.shape}: "
                                      f"{_trim(message)}")
        except (BrokenPipeError, struct.error) as exc:
            raise SavedModelError(f"{self.path}: lost the TensorFlow worker ({exc}): "
                                  f"{self._worker_stderr()}") from None
        raise SavedModelError(f"{self.path}: the TensorFlow worker stopped answering: "
                              f"{self._worker_stderr()}")

    def close(self) -> None:
        process = getattr(self, "_process", None)
        if process is None:
            return
        if process.poll() is None:
            try:
                self._stdin.write(b"Q")
                self._stdin.close()
                process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        if not self._stderr.closed:
            self._stderr.close()
        self._process = None  # type: ignore[assignment]

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - never raise from a finaliser
            pass
