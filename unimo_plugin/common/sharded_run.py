"""One sharded, resumable, mergeable run: what every offline pipeline writing per-item outputs shares.

A run cuts its items (TSV lines, image files, captions, text lines) into ``num_shards`` contiguous
ranges. Shard K of N writes ``PREFIX.shardK-of-N`` (``PREFIX`` is the output itself, the plain output
when unsharded), and the merge joins the shards, in order, into the output. The manifest of every
output gets a ``run`` record beside what its format records::

    "run": {"options": {...},                                   what shapes the result
            "inputs": {NAME: {"files", "bytes", "digest"}},     the files read, see fingerprint()
            "items": [start, end], "shard": [K, N],             which items (the merge: all, null)
            "stats": {...},                                     counts of the pipeline
            "merged_from": "sha256:...", "merge_options": {...}}  the merge: fingerprint of its shards

- A rerun skips an output whose record has the run's options and inputs, redoes one without a
  manifest or without a record (an interrupted write, or one written before runs were recorded: a
  warning says so), and refuses one made with other options or inputs, naming it and what differs
  (``overwrite`` redoes it).
- The merge refuses a missing shard, or a shard made with other options or inputs than the run (a
  merge on its own, which is given neither, compares the shards with the first), naming the shard.
  The merged output records the shards' stats added up; it is redone when a shard changed since,
  or when options that shape only the merge (``merge_options``) changed.

Inputs are identified by every file's absolute path, size and modification time: cheap enough for
every resume, and changed by any rewrite. Shards made on several machines therefore merge when they
read their inputs at the same paths, with the same times (a shared file system, ``rsync -a``).

A pipeline subclasses :class:`ShardedRun` and supplies only what is its own: how many items, how to
write one shard's items and how to concatenate its artifact type.
"""
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from tqdm import tqdm

from .artifacts import PathLike, is_complete, manifest_path, read_manifest, shard_bounds, shard_output, update_manifest

logger = logging.getLogger(__name__)

_DIGEST_PREFIX = "sha256:"


def fingerprint(inputs: Mapping[str, Iterable[PathLike]]) -> Dict[str, Dict[str, Any]]:
    """Per named group of input paths (files, or folders whose files are all read): the file count,
    their bytes and the SHA-256 of every file's absolute path, size and modification time."""
    out = {}
    for name, paths in inputs.items():
        digest, files, size = hashlib.sha256(), 0, 0
        for path in paths:
            for file in _files(os.path.abspath(path)):
                stat = os.stat(file)
                digest.update(f"{file}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
                files, size = files + 1, size + stat.st_size
        out[name] = {"files": files, "bytes": size, "digest": _DIGEST_PREFIX + digest.hexdigest()}
    return out


def _files(path):
    if not os.path.isdir(path):
        yield path  # a missing file fails in os.stat, naming it
        return
    for root, folders, names in os.walk(path):
        folders.sort()
        for name in sorted(names):
            yield os.path.join(root, name)


def sum_stats(stats: Sequence[Mapping[str, Any]]) -> Dict[str, Any]:
    """Counts of several outputs added up: numbers summed, dicts key by key, lists concatenated; any
    other value is the first output's."""
    total: Dict[str, Any] = {}
    for part in stats:
        for key, value in part.items():
            total[key] = _add(total[key], value) if key in total else value
    return total


def _add(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return sum_stats([a, b])
    if isinstance(a, list) and isinstance(b, list):
        return a + b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return a + b
    return a


def progress_bar(total: int, output: PathLike, unit: str, progress: bool = True) -> tqdm:
    """The progress bar of one output's items, named after the output."""
    return tqdm(total=total, unit=unit, desc=os.path.basename(os.fspath(output)), disable=not progress)


@dataclass
class ShardResult:
    """What a run did to one output: a shard, the unsharded output, or the merge."""

    output: str
    skipped: bool = False  # already complete with the run's options and inputs: left as it was
    stats: Dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    merged_shards: int = 0  # > 0 for the merged output of a sharded run


@dataclass(frozen=True)
class Shard:
    """One shard of a run: where it is written and its items ``[start, end)``."""

    output: str
    shard_id: int
    num_shards: int
    start: int
    end: int


class ShardedRun:
    """The run of one pipeline's output: subclasses supply :meth:`count_items`, :meth:`write_shard` and
    :meth:`concatenate` (and may override :meth:`prepare`, :meth:`merge_stats` and :meth:`artifact`).

    ``options`` (JSON-able) and ``inputs`` (name -> paths, see :func:`fingerprint`) are recorded in each
    output; a run that only merges may pass neither. ``shard_prefix`` names the shards when they are
    another artifact than the output (default: the output itself; then an unsharded run's one shard is
    the output, and there is nothing to merge). ``merge_options`` shape only the merged output.
    """

    def __init__(self, output: PathLike, options: Optional[Mapping[str, Any]] = None,
                 inputs: Optional[Mapping[str, Iterable[PathLike]]] = None, num_shards: int = 1,
                 shard_prefix: Optional[PathLike] = None, merge_options: Optional[Mapping[str, Any]] = None):
        if num_shards < 1:
            raise ValueError(f"--num-shards must be positive, got {num_shards}")
        self.output, self.num_shards = os.fspath(output), num_shards
        self.shard_prefix = self.output if shard_prefix is None else os.fspath(shard_prefix)
        self.reference, self.merge_options = None, _plain(merge_options)
        if options is not None or inputs is not None:
            self.reference = {"options": _plain(options or {}), "inputs": fingerprint(inputs or {})}

    # What a pipeline supplies.

    def count_items(self) -> int:
        """How many items the run has; called only when some shard is written."""
        raise NotImplementedError

    def prepare(self, shards: List[Shard]) -> None:
        """Work that the shards about to be written share (loading a model, parsing), done once."""

    def write_shard(self, shard: Shard, progress: bool) -> Dict[str, Any]:
        """Write the shard's items to ``shard.output`` (atomically, with its manifest); return its stats."""
        raise NotImplementedError

    def concatenate(self, shards: List[Shard], output: str) -> Optional[Dict[str, Any]]:
        """Write ``output`` (atomically, with its manifest) from the complete ``shards``, in order; return
        its stats, or None for the shards' stats added up by :meth:`merge_stats`."""
        raise NotImplementedError

    def merge_stats(self, stats: List[Dict[str, Any]]) -> Dict[str, Any]:
        return sum_stats(stats)

    def artifact(self, output: str) -> str:
        """The path whose manifest marks ``output`` complete (e.g. ``PREFIX.bin`` of a token dataset)."""
        return output

    # The run.

    @property
    def merges(self) -> bool:
        """Whether the shards are joined into the output (else the one shard is the output)."""
        return self.num_shards > 1 or self.shard_prefix != self.output

    def shard_path(self, shard_id: int) -> str:
        return shard_output(self.shard_prefix, self.num_shards, shard_id)

    def run(self, shard_ids: Optional[Iterable[int]] = None, merge: bool = False, overwrite: bool = False,
            progress: bool = True) -> List[ShardResult]:
        """Write shards ``shard_ids`` (None: every one, in turn), skipping complete ones unless
        ``overwrite``; then, with ``merge``, join every shard into the output. A result per output."""
        shard_ids = list(range(self.num_shards) if shard_ids is None else shard_ids)
        for k in shard_ids:
            shard_bounds(0, self.num_shards, k)  # validates the shard id before any work
        if shard_ids and self.reference is None:
            raise ValueError("a run that writes shards needs its options and inputs")
        results, todo = {}, []
        for k in shard_ids:
            record = None if overwrite else self._done(self.shard_path(k))
            if record is None:
                todo.append(k)
            else:
                results[k] = ShardResult(self.shard_path(k), skipped=True, stats=record.get("stats", {}))
        if todo:
            count = self.count_items()
            shards = [Shard(self.shard_path(k), k, self.num_shards, *shard_bounds(count, self.num_shards, k))
                      for k in todo]
            self.prepare(shards)
            for shard in shards:
                t0 = time.time()
                stats = self.write_shard(shard, progress)
                self._record(shard.output, items=[shard.start, shard.end],
                             shard=[shard.shard_id, shard.num_shards], stats=stats)
                results[shard.shard_id] = ShardResult(shard.output, stats=stats, seconds=time.time() - t0)
        out = [results[k] for k in shard_ids]
        if merge and self.merges:
            out.append(self._merge(overwrite))
        return out

    def _record(self, output, **fields):
        update_manifest(self.artifact(output), run=dict(self.reference, **fields))

    def _complete_record(self, output):
        """The run record of a complete output; None when incomplete or written without one."""
        artifact = self.artifact(output)
        return read_manifest(artifact).get("run") if is_complete(artifact) else None

    def _done(self, output):
        """The record of ``output`` when it is complete and made like this run; a complete output made
        otherwise is refused, not mixed in."""
        record = self._complete_record(output)
        if record is None:
            if is_complete(self.artifact(output)):
                logger.warning(f"{output}: complete, but without the record of how it was made (interrupted before "
                               f"it was written, or written before runs were recorded): redoing it")
            return None
        differences = _differences(record, self.reference, "this run")
        if differences:
            raise ValueError(f"{output} is complete but was made with other {'; '.join(differences)}: pass "
                             f"--overwrite, or delete it and {manifest_path(self.artifact(output))}, to redo it")
        return record

    def _merge(self, overwrite):
        shards = [self.shard_path(k) for k in range(self.num_shards)]
        records = [self._complete_record(path) for path in shards]
        missing = [path for path, record in zip(shards, records) if record is None]
        if missing:
            raise ValueError(f"cannot merge into {self.output}: {len(missing)} of {self.num_shards} shard(s) not "
                             f"complete: {', '.join(missing)}")
        reference, against = (self.reference, "this run") if self.reference else (records[0], shards[0])
        start = 0
        for k, (path, record) in enumerate(zip(shards, records)):
            differences = _differences(record, reference, against)
            if differences:
                raise ValueError(f"cannot merge into {self.output}: shard {path} was made with other "
                                 f"{'; '.join(differences)} (redo that shard, with --overwrite)")
            if record.get("shard") != [k, self.num_shards] or record["items"][0] != start:
                raise ValueError(f"cannot merge into {self.output}: shard {path} holds items {record['items']} as shard "
                                 f"{record.get('shard')}, expected shard {[k, self.num_shards]} from item {start}")
            start = record["items"][1]
        artifacts = [self.artifact(path) for path in shards]
        merged_from = fingerprint({"shards": artifacts + [manifest_path(a) for a in artifacts]})["shards"]["digest"]
        existing = None if overwrite else self._complete_record(self.output)
        if existing is not None and (existing.get("merged_from"), existing.get("merge_options")) == (
                merged_from, self.merge_options):
            return ShardResult(self.output, skipped=True, stats=existing.get("stats", {}),
                               merged_shards=self.num_shards)
        t0 = time.time()
        parts = [Shard(path, k, self.num_shards, *record["items"])
                 for k, (path, record) in enumerate(zip(shards, records))]
        stats = self.concatenate(parts, self.output)
        if stats is None:
            stats = self.merge_stats([record.get("stats", {}) for record in records])
        update_manifest(self.artifact(self.output),
                        run=dict(options=reference["options"], inputs=reference["inputs"], items=[0, start],
                                 shard=None, stats=stats, merged_from=merged_from, merge_options=self.merge_options))
        return ShardResult(self.output, stats=stats, seconds=time.time() - t0, merged_shards=self.num_shards)


def _plain(value):
    """``value`` as it reads back from a manifest (tuples become lists, paths strings)."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _differences(record, reference, against):
    """What differs between a run record and the reference one, for a message ("" when nothing)."""
    out = []
    options, wanted = record.get("options", {}), reference["options"]
    for key in sorted(set(options) | set(wanted)):
        if options.get(key) != wanted.get(key):
            out.append(f"option {key}: {json.dumps(options.get(key))}, {against} {json.dumps(wanted.get(key))}")
    inputs, wanted = record.get("inputs", {}), reference["inputs"]
    for name in sorted(set(inputs) | set(wanted)):
        mine, theirs = inputs.get(name), wanted.get(name)
        if mine != theirs:
            out.append(f"inputs {name}: {_describe(mine)}, {against} {_describe(theirs)}")
    return out


def _describe(inputs):
    if inputs is None:
        return "none"
    return f"{inputs['files']} file(s) of {inputs['bytes']} bytes (digest {inputs['digest'][:19]}...)"

