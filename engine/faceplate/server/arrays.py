"""Protocol arrays (bytes + dtype + shape) to numpy and back, without copying where possible."""

from __future__ import annotations

import numpy as np
from faceplate_client.protocol import BAD_PARAMS, Array, EngineError


def to_numpy(a: Array) -> np.ndarray:
    """A read-only numpy view of the received bytes (little-endian, C order)."""
    return np.frombuffer(a.data, dtype=np.dtype(a.dtype).newbyteorder("<")).reshape(a.shape)


def from_numpy(values: np.ndarray) -> Array:
    values = np.asarray(values)
    name = values.dtype.name
    if name == "bool":
        values, name = values.astype(np.uint8), "uint8"
    if name not in _SENDABLE:
        raise EngineError(BAD_PARAMS, f"arrays of {name} cannot be sent; convert to float32")
    values = np.ascontiguousarray(values, dtype=np.dtype(name).newbyteorder("<"))
    return Array(name, values.shape, values.data.cast("B") if values.size else b"")


_SENDABLE = ("uint8", "uint16", "int32", "int64", "float16", "float32", "float64")
