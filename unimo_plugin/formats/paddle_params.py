"""PaddlePaddle parameter directories, the format of the official UNIMO release's checkpoints.

A checkpoint is a directory with one file per parameter, named exactly as the parameter (written by
Paddle 1.8's ``fluid.io.save_vars``). Each file is one serialized LoDTensor, little-endian::

    uint32  version (0)
    uint64  lod_level, then per level: uint64 byte count, that many bytes of uint64 offsets
    uint32  tensor version (0)
    int32   size of the TensorDesc protobuf that follows
    bytes   TensorDesc: field 1 data_type (varint, Paddle's VarType: FP32 = 5, FP16 = 4, ...),
            field 2 dims (int64, one varint each or packed)
    bytes   the data, C order

Read here with numpy alone: paddlepaddle is not a dependency.
"""
import os
import struct
from typing import Dict, List, Tuple

import numpy as np

from ..common.artifacts import InputError

# Paddle's VarType codes of the dense dtypes a checkpoint can hold; bf16 is read as float32
DTYPES = {0: np.bool_, 1: np.int16, 2: np.int32, 3: np.int64, 4: np.float16, 5: np.float32, 6: np.float64,
          20: np.uint8, 21: np.int8, 22: "bfloat16"}


def _varint(data: bytes, pos: int, path: str) -> Tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise InputError(path, "truncated TensorDesc (a varint runs past its end)")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def _tensor_desc(data: bytes, path: str) -> Tuple[int, List[int]]:
    """(data type code, dims) of a serialized TensorDesc."""
    data_type, dims, pos = None, [], 0
    while pos < len(data):
        key, pos = _varint(data, pos, path)
        field, wire = key >> 3, key & 7
        if field == 1 and wire == 0:
            data_type, pos = _varint(data, pos, path)
        elif field == 2 and wire == 0:
            dim, pos = _varint(data, pos, path)
            dims.append(dim - (1 << 64) if dim >= 1 << 63 else dim)
        elif field == 2 and wire == 2:  # packed
            length, pos = _varint(data, pos, path)
            end = pos + length
            while pos < end:
                dim, pos = _varint(data, pos, path)
                dims.append(dim - (1 << 64) if dim >= 1 << 63 else dim)
        else:
            raise InputError(path, f"not a Paddle TensorDesc (field {field}, wire type {wire})")
    if data_type is None:
        raise InputError(path, "TensorDesc without a data type")
    return data_type, dims


def read_lod_tensor(path: str) -> np.ndarray:
    """The array in one parameter file; a corrupt or truncated file is an InputError naming it."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0

    def take(size, what):
        nonlocal pos
        if pos + size > len(data):
            raise InputError(path, f"truncated: {what} needs {size} bytes at offset {pos}, the file has {len(data)}")
        chunk = data[pos:pos + size]
        pos += size
        return chunk

    (version,) = struct.unpack("<I", take(4, "the LoDTensor version"))
    if version != 0:
        raise InputError(path, f"LoDTensor version {version}, expected 0: not a Paddle parameter file")
    (lod_level,) = struct.unpack("<Q", take(8, "the LoD level"))
    if lod_level > 16:
        raise InputError(path, f"LoD level {lod_level}: not a Paddle parameter file")
    for _ in range(lod_level):
        (size,) = struct.unpack("<Q", take(8, "a LoD size"))
        take(size, "LoD offsets")
    (tensor_version,) = struct.unpack("<I", take(4, "the tensor version"))
    if tensor_version != 0:
        raise InputError(path, f"tensor version {tensor_version}, expected 0")
    (desc_size,) = struct.unpack("<i", take(4, "the TensorDesc size"))
    if desc_size < 0:
        raise InputError(path, f"negative TensorDesc size {desc_size}")
    data_type, dims = _tensor_desc(take(desc_size, "the TensorDesc"), path)
    if data_type not in DTYPES:
        raise InputError(path, f"unsupported Paddle data type {data_type}")
    if any(d < 0 for d in dims):
        raise InputError(path, f"dims {dims} are not a stored tensor's")
    count = int(np.prod(dims)) if dims else 1
    dtype = DTYPES[data_type]
    if dtype == "bfloat16":
        raw = np.frombuffer(take(2 * count, f"{count} bfloat16 values"), dtype="<u2")
        array = (raw.astype(np.uint32) << 16).view(np.float32)
    else:
        dtype = np.dtype(dtype).newbyteorder("<")
        array = np.frombuffer(take(dtype.itemsize * count, f"{count} {dtype.name} values"), dtype=dtype)
    if pos != len(data):
        raise InputError(path, f"{len(data) - pos} bytes after the tensor: not one Paddle parameter")
    return array.reshape(dims).copy()


def read_params(directory: str) -> Dict[str, np.ndarray]:
    """Every parameter file of a checkpoint directory, by parameter name."""
    if not os.path.isdir(directory):
        raise InputError(directory, "not a directory of Paddle parameter files")
    names = sorted(n for n in os.listdir(directory) if os.path.isfile(os.path.join(directory, n))
                   and not n.startswith("."))
    if not names:
        raise InputError(directory, "no parameter files")
    return {name: read_lod_tensor(os.path.join(directory, name)) for name in names}
