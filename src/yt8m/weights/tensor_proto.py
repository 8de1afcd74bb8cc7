"""TensorFlow ``TensorProto`` messages to numpy arrays (no TensorFlow needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from yt8m.errors import WeightsError
from yt8m.formats import protos

#: numpy dtype of each TensorFlow DataType number yt8m can read.
NUMPY_DTYPES: dict[int, np.dtype[Any]] = {
    1: np.dtype(np.float32),   # DT_FLOAT
    2: np.dtype(np.float64),   # DT_DOUBLE
    3: np.dtype(np.int32),     # DT_INT32
    4: np.dtype(np.uint8),     # DT_UINT8
    5: np.dtype(np.int16),     # DT_INT16
    6: np.dtype(np.int8),      # DT_INT8
    9: np.dtype(np.int64),     # DT_INT64
    10: np.dtype(np.bool_),    # DT_BOOL
    17: np.dtype(np.uint16),   # DT_UINT16
    19: np.dtype(np.float16),  # DT_HALF
    22: np.dtype(np.uint32),   # DT_UINT32
    23: np.dtype(np.uint64),   # DT_UINT64
}

# Which repeated field holds the values of each dtype when tensor_content is empty.
_VALUE_FIELDS = {1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val",
                 6: "int_val", 9: "int64_val", 10: "bool_val", 17: "int_val", 19: "half_val",
                 22: "uint32_val", 23: "uint64_val"}


def dtype_name(dtype: int) -> str:
    """Return TensorFlow's name of a DataType number (e.g. 1 -> "DT_FLOAT")."""
    try:
        return protos.DataType.values_by_number[dtype].name
    except KeyError:
        return f"DataType({dtype})"


def shape_of(shape_proto: Any) -> tuple[int, ...]:
    """Return the dimensions of a ``TensorShapeProto``."""
    return tuple(int(d.size) for d in shape_proto.dim)


def to_numpy(tensor: Any, *, name: str = "tensor") -> npt.NDArray[Any]:
    """Return the value of a ``TensorProto`` as a numpy array of its shape and dtype.

    Handles both encodings TensorFlow uses: raw little-endian ``tensor_content``, and
    the typed repeated fields, where a single value stands for a tensor filled with it.
    """
    dtype = NUMPY_DTYPES.get(tensor.dtype)
    if dtype is None:
        raise WeightsError(f"{name}: unsupported tensor dtype {dtype_name(tensor.dtype)}")
    shape = shape_of(tensor.tensor_shape)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if tensor.tensor_content:
        flat = np.frombuffer(tensor.tensor_content, dtype=dtype.newbyteorder("<"))
        if flat.size != count:
            raise WeightsError(f"{name}: tensor_content holds {flat.size} values, "
                               f"shape {shape} needs {count}")
        return flat.astype(dtype).reshape(shape)
    field = _VALUE_FIELDS[tensor.dtype]
    values = getattr(tensor, field)
    if tensor.dtype == 19:  # DT_HALF values are stored as the uint16 bit patterns in int32s
        flat = np.asarray(values, np.uint16).view(np.float16)
    else:
        flat = np.asarray(values, dtype=dtype)
    if flat.size == count:
        return flat.reshape(shape)
    if flat.size == 0 and count == 0:
        return np.zeros(shape, dtype)
    if 0 < flat.size < count:  # TensorFlow repeats the last value to fill the tensor
        return np.concatenate([flat, np.full(count - flat.size, flat[-1], dtype)]).reshape(shape)
    raise WeightsError(f"{name}: holds {flat.size} values, shape {shape} needs {count}")
