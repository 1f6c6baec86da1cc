"""Shared discipline of every writer: atomic outputs, manifests, sharding and input errors.

A writer never leaves a half-written file that looks complete: it writes to a temporary
name beside the target and renames at the end. Each output gets a JSON manifest.
"""
import contextlib
import glob
import json
import os
import shutil
import time
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]

MANIFEST_SUFFIX = ".manifest.json"


class InputError(ValueError):
    """Bad input, reported with the file and (where known) the line it came from."""

    def __init__(self, path: PathLike, message: str, line: Optional[int] = None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path, self.line = path, line


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[str]:
    """Yield a temporary path (file or directory) that is renamed to ``path`` on success.

    On an exception the temporary is removed and ``path`` is left as it was.
    """
    tmp = f"{path}.tmp-{os.getpid()}"
    _remove(tmp)
    try:
        yield tmp
        if os.path.isdir(path) and os.path.isdir(tmp):
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def manifest_path(output: PathLike) -> str:
    return f"{output}{MANIFEST_SUFFIX}"


def write_manifest(output: PathLike, kind: str, **fields: Any) -> Dict[str, Any]:
    """Write ``<output>.manifest.json`` atomically: format kind/version, counts, dims, sources, options."""
    record = {"kind": kind, "format_version": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    record.update(fields)
    _dump_manifest(output, record)
    return record


def update_manifest(output: PathLike, **fields: Any) -> Dict[str, Any]:
    """Add ``fields`` to an existing manifest (atomically, keeping its creation time)."""
    record = dict(read_manifest(output), **fields)
    _dump_manifest(output, record)
    return record


def _dump_manifest(output, record):
    with atomic_output(manifest_path(output)) as tmp, open(tmp, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True, default=str)
        f.write("\n")


def read_manifest(output: PathLike) -> Dict[str, Any]:
    with open(manifest_path(output)) as f:
        return json.load(f)


def data_outputs(directory: PathLike) -> List[str]:
    """``directory`` and every output in it with a manifest (datasets, sidecars), in name order."""
    inside = sorted(glob.glob(os.path.join(glob.escape(directory), "*" + MANIFEST_SUFFIX)))
    return [directory] + [path[: -len(MANIFEST_SUFFIX)] for path in inside]


def shard_bounds(num_items: int, num_shards: int, shard_id: int) -> Tuple[int, int]:
    """Contiguous [start, end) of the items that shard ``shard_id`` of ``num_shards`` owns."""
    if num_shards < 1 or not 0 <= shard_id < num_shards:
        raise ValueError(f"--shard-id must be in [0, {num_shards}), got {shard_id}")
    per = -(-num_items // num_shards) if num_items else 0
    return min(shard_id * per, num_items), min((shard_id + 1) * per, num_items)


def shard_output(output: PathLike, num_shards: int, shard_id: int) -> str:
    """The output path of one shard (the plain path when unsharded)."""
    return os.fspath(output) if num_shards == 1 else f"{output}.shard{shard_id}-of-{num_shards}"


def is_complete(output: PathLike) -> bool:
    """A finished output has its manifest: a resumed run skips it."""
    return os.path.exists(output) and os.path.exists(manifest_path(output))
