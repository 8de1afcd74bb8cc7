"""MediaPipe ``MatrixData`` protos (the PCA parameters of the reference).

``packed_data`` holds ``rows * cols`` floats in column-major order (the default) or
row-major order; see docs/artifacts.md, 'MatrixData'.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
import numpy.typing as npt

from yt8m._files import read_input_bytes
from yt8m.errors import InputError
from yt8m.formats import protos
from yt8m.formats.messages import parse_strict

Layout = Literal["column_major", "row_major"]
_LAYOUTS: dict[Layout, int] = {"column_major": 0, "row_major": 1}


def encode_matrix(matrix: npt.ArrayLike, *, layout: Layout = "column_major") -> bytes:
    """Serialize a 2-D (or 1-D, as a column) array as a MatrixData message."""
    arr = np.asarray(matrix, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"MatrixData holds a 2-D matrix, got shape {arr.shape}")
    if layout not in _LAYOUTS:
        raise ValueError(f"Invalid layout ({layout!r}). Supported values are {list(_LAYOUTS)}.")
    msg = protos.MatrixData(rows=arr.shape[0], cols=arr.shape[1], layout=_LAYOUTS[layout])
    msg.packed_data[:] = arr.ravel(order="F" if layout == "column_major" else "C").tolist()
    return msg.SerializeToString(deterministic=True)


def decode_matrix(data: bytes, *, where: str = "MatrixData") -> npt.NDArray[np.float32]:
    """Parse a MatrixData message into a float32 ``[rows, cols]`` array."""
    msg = parse_strict(protos.MatrixData, data, where=where, what="a MediaPipe MatrixData")
    rows, cols, n = msg.rows, msg.cols, len(msg.packed_data)
    if rows <= 0 or cols <= 0 or rows * cols != n:
        raise InputError(f"{where}: MatrixData says {rows}x{cols} but holds {n} values")
    order = "F" if msg.layout == _LAYOUTS["column_major"] else "C"
    return np.asarray(msg.packed_data, np.float32).reshape((rows, cols), order=order)


def matrix_layout(data: bytes) -> Layout:
    """Return the layout a serialized MatrixData declares."""
    msg = protos.MatrixData.FromString(data)
    return "row_major" if msg.layout == _LAYOUTS["row_major"] else "column_major"


def read_matrix(path: str | os.PathLike[str]) -> npt.NDArray[np.float32]:
    """Read a MatrixData ``.pb`` file."""
    return decode_matrix(read_input_bytes(path, expected="a MatrixData file"), where=str(path))
