"""Import detector region features from the usual on-disk formats into region stores.

Formats (array columns of the TSVs are base64 of little-endian float32, one image per line):

- ``bua_tsv``: the bottom-up-attention TSV ``image_id, image_w, image_h, num_boxes, boxes, features``;
- ``unimo_tsv``: UNIMO's TSV ``img, w, h, num_boxes, boxes, features, cls_probs``;
- ``npz``: folders of per-image ``.npz`` files with ``features, boxes, image_w, image_h`` and
  optionally ``cls_probs``; the image id is the file stem.

The items (TSV lines, ``.npz`` files) are split into contiguous shards of one sharded run
(``common/sharded_run.py``); each shard becomes its own store, so an interrupted run resumes by
redoing only the shards not complete yet, and the merge joins them by block copies.
"""
import base64
import binascii
import csv
import os
import sys
import zipfile
from typing import NamedTuple, Optional

import numpy as np

from ...common.artifacts import InputError
from ...common.parallel import ordered_map
from ...formats.region_store import check_regions
from .region_shards import RegionStoreRun

TSV_COLUMNS = {
    "bua_tsv": ("image_id", "image_w", "image_h", "num_boxes", "boxes", "features"),
    "unimo_tsv": ("img", "w", "h", "num_boxes", "boxes", "features", "cls_probs"),
}
FORMATS = tuple(TSV_COLUMNS) + ("npz",)
NPZ_KEYS = ("features", "boxes", "image_w", "image_h")
_BATCH = 16  # items per task handed to a worker


class _BadItem(Exception):
    """A malformed TSV line or .npz file; the caller adds the file and line."""


def tsv_line_offsets(path, chunk_bytes=1 << 24):
    """Byte offsets of the line starts of ``path`` plus its size: line i spans ``[o[i], o[i+1])``."""
    starts, size = [np.zeros(1, np.int64)], 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(chunk_bytes)
            if not chunk:
                break
            starts.append(np.flatnonzero(np.frombuffer(chunk, np.uint8) == 10).astype(np.int64) + size + 1)
            size += len(chunk)
    offsets = np.concatenate(starts)
    return offsets if offsets[-1] == size else np.append(offsets, size)


def _tsv_int(text, column):
    if not text.isdigit():
        raise _BadItem(f"column {column}: {text[:40].decode('utf-8', 'replace')!r} is not a non-negative integer")
    return int(text)


def _b64_array(text, column, num_boxes, cols, hint=""):
    """Decode a base64 float32 column into (num_boxes, cols); ``cols=None`` infers it from the size."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise _BadItem(f"column {column}: invalid base64 ({e})") from None
    if cols is None:
        if num_boxes == 0 or len(raw) % (4 * num_boxes):
            raise _BadItem(f"column {column}: cannot infer its width from {len(raw)} bytes for "
                           f"num_boxes={num_boxes}")
        cols = len(raw) // (4 * num_boxes)
    if len(raw) != num_boxes * cols * 4:
        raise _BadItem(f"column {column}: {len(raw)} bytes, expected num_boxes x {cols} x 4 = "
                       f"{num_boxes * cols * 4} bytes of float32{hint}")
    return np.frombuffer(raw, "<f4").reshape(num_boxes, cols)


def _split_tsv_line(line):
    # Plain split is several times faster than csv; csv is needed only for quoted fields
    # (csv.writer quotes an id that holds a quote or a tab), and base64 never has quotes.
    if b'"' not in line:
        return line.split(b"\t")
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        return [f.encode("utf-8") for f in next(csv.reader([line.decode("utf-8")], delimiter="\t"))]
    except (UnicodeDecodeError, csv.Error) as e:
        raise _BadItem(f"unreadable quoted TSV line ({e})") from None


def parse_tsv_line(line, fmt, feature_dim, num_classes=None, max_boxes=None):
    """One TSV line (bytes) as ``(image_id, width, height, boxes, features, cls_probs)``.

    Returns None for a blank line. ``num_classes=None`` in ``unimo_tsv`` infers it from the line.
    Raises ``_BadItem`` naming the column at fault.
    """
    line = line.rstrip(b"\r\n")
    if not line.strip():
        return None
    columns = TSV_COLUMNS[fmt]
    fields = _split_tsv_line(line)
    if len(fields) != len(columns):
        raise _BadItem(f"{len(fields)} tab-separated columns, expected {len(columns)} ({', '.join(columns)})")
    try:
        image_id = fields[0].decode("utf-8")
    except UnicodeDecodeError:
        raise _BadItem(f"column {columns[0]}: not UTF-8") from None
    width, height, num_boxes = (_tsv_int(fields[i], columns[i]) for i in (1, 2, 3))
    if width == 0 or height == 0:
        raise _BadItem(f"image size {width}x{height}: {columns[1]} and {columns[2]} must be positive")
    boxes = _b64_array(fields[4], columns[4], num_boxes, 4)
    features = _b64_array(fields[5], columns[5], num_boxes, feature_dim, " (is --feature-dim right?)")
    cls_probs = _b64_array(fields[6], columns[6], num_boxes, num_classes) if fmt == "unimo_tsv" else None
    return _truncated(image_id, width, height, boxes, features, cls_probs, max_boxes)


def _npz_size(value, key):
    value = np.asarray(value)
    if value.shape != () or value.dtype.kind not in "iuf" or not float(value).is_integer() or value <= 0:
        raise _BadItem(f"key {key}: {value!r} is not a positive integer")
    return int(value)


def parse_npz(path, feature_dim, num_classes=None, max_boxes=None, infer_classes=False):
    """One ``.npz`` file as ``(image_id, width, height, boxes, features, cls_probs)``.

    Its ``cls_probs`` must be present exactly when ``num_classes`` is set (or ``infer_classes``).
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise _BadItem(f"cannot read .npz ({e})") from None
    missing = [key for key in NPZ_KEYS if key not in data]
    if missing:
        raise _BadItem(f"missing key(s) {', '.join(missing)} (has {', '.join(sorted(data)) or 'none'})")
    width, height = _npz_size(data["image_w"], "image_w"), _npz_size(data["image_h"], "image_h")
    features, boxes, cls_probs = data["features"], data["boxes"], data.get("cls_probs")
    if features.ndim != 2 or features.shape[1] != feature_dim:
        raise _BadItem(f"key features: shape {features.shape}, expected (num_boxes, {feature_dim}) "
                       "(is --feature-dim right?)")
    if boxes.shape != (len(features), 4):
        raise _BadItem(f"key boxes: shape {boxes.shape}, expected ({len(features)}, 4) to match features")
    if cls_probs is not None and not (num_classes or infer_classes):
        raise _BadItem("has cls_probs, but the store has none (the first file had none; "
                       "every file must agree)")
    if cls_probs is None and num_classes:
        raise _BadItem(f"key cls_probs missing, but the store has {num_classes} classes")
    if cls_probs is not None and (cls_probs.ndim != 2 or len(cls_probs) != len(features)
                                  or (num_classes and cls_probs.shape[1] != num_classes)):
        raise _BadItem(f"key cls_probs: shape {cls_probs.shape}, expected ({len(features)}, "
                       f"{num_classes or 'num_classes'})")
    image_id = os.path.splitext(os.path.basename(path))[0]
    return _truncated(image_id, width, height, boxes, features, cls_probs, max_boxes)


def _truncated(image_id, width, height, boxes, features, cls_probs, max_boxes):
    if max_boxes is not None:
        boxes, features = boxes[:max_boxes], features[:max_boxes]
        cls_probs = None if cls_probs is None else cls_probs[:max_boxes]
    return image_id, width, height, boxes, features, cls_probs


class _Task(NamedTuple):
    """A run of consecutive items for one worker call."""

    fmt: str
    path: Optional[str]  # the TSV file; None for npz
    first_line: Optional[int]  # line number of the first TSV line
    items: object  # TSV: byte offsets of the lines plus the end; npz: file paths
    feature_dim: int
    dtype: Optional[str]  # validate and cast to it; None parses only (to infer the class count)
    num_classes: Optional[int]
    max_boxes: Optional[int]


def _parse_batch(task):
    """Worker side: parse, validate and cast a run of items; a bad one gives its message instead."""
    if task.fmt == "npz":
        items = [(path, None, path) for path in task.items]
    else:
        start, offsets = task.items[0], task.items
        with open(task.path, "rb") as f:
            f.seek(start)
            data = f.read(offsets[-1] - start)
        items = [(task.path, task.first_line + i, data[offsets[i] - start:offsets[i + 1] - start])
                 for i in range(len(offsets) - 1)]
    results = []
    for path, line, item in items:
        try:
            if task.fmt == "npz":
                record = parse_npz(item, task.feature_dim, task.num_classes, task.max_boxes,
                                   infer_classes=task.dtype is None)
            else:
                record = parse_tsv_line(item, task.fmt, task.feature_dim, task.num_classes, task.max_boxes)
            if record is not None and task.dtype is not None:
                record = check_regions(*record, task.feature_dim, task.dtype, task.num_classes)
        except (_BadItem, ValueError) as e:
            record = str(e)
        results.append((path, line, record))
    return results


def detect_format(inputs):
    """``npz`` for folders, else a TSV format told apart by the first line's column count."""
    if all(os.path.isdir(p) for p in inputs):
        return "npz"
    path = inputs[0]
    try:
        with open(path, "rb") as f:
            columns = f.readline().count(b"\t") + 1
    except OSError as e:
        raise InputError(path, f"cannot read ({e.strerror})") from None
    for fmt, names in TSV_COLUMNS.items():
        if columns == len(names):
            return fmt
    raise InputError(path, f"cannot detect the format: {columns} columns, expected 6 (bua_tsv) or 7 "
                           "(unimo_tsv); pass --format", line=1)


class _Items:
    """The items of the inputs in order (TSV lines or .npz files), cut into worker tasks."""

    def __init__(self, inputs, fmt):
        self.fmt = fmt
        if fmt == "npz":
            self.files = []
            for path in inputs:
                if os.path.isdir(path):
                    self.files += sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith(".npz"))
                elif path.endswith(".npz"):
                    self.files.append(path)
                else:
                    raise InputError(path, "--format npz takes folders of .npz files (or .npz files)")
            self.counts = [1] * len(self.files)
        else:
            for path in inputs:
                if not os.path.isfile(path):
                    raise InputError(path, f"not a file (--format {fmt} takes TSV files)")
            self.files = list(inputs)
            self.offsets = [tsv_line_offsets(path) for path in self.files]
            self.counts = [len(o) - 1 for o in self.offsets]

    def __len__(self):
        return sum(self.counts)

    def tasks(self, start, end, feature_dim, dtype, num_classes, max_boxes):
        """Worker tasks covering items ``[start, end)``."""
        if self.fmt == "npz":
            for i in range(start, end, _BATCH):
                yield _Task("npz", None, None, self.files[i:min(i + _BATCH, end)], feature_dim, dtype,
                            num_classes, max_boxes)
            return
        base = 0
        for path, offsets, count in zip(self.files, self.offsets, self.counts):
            lo, hi = max(start - base, 0), min(end - base, count)
            for i in range(lo, hi, _BATCH):
                yield _Task(self.fmt, path, i + 1, offsets[i:min(i + _BATCH, hi) + 1], feature_dim, dtype,
                            num_classes, max_boxes)
            base += count

    def first_record(self, feature_dim):
        """The first non-blank item, parsed with classes inferred: it fixes the store's class count."""
        for task in self.tasks(0, len(self), feature_dim, None, None, None):
            for path, line, record in _parse_batch(task):
                if isinstance(record, str):
                    raise InputError(path, f"{record}; cannot infer the class count, pass --num-classes", line)
                if record is not None:
                    return record
        return None


def _resolve_num_classes(items, fmt, feature_dim, num_classes):
    if fmt == "bua_tsv":
        return None
    if num_classes is not None:
        return num_classes
    record = items.first_record(feature_dim)
    return None if record is None or record[5] is None else record[5].shape[1]


class _ImportRun(RegionStoreRun):
    def __init__(self, inputs, output, fmt, feature_dim, dtype, max_boxes, num_classes, skip_bad, num_shards, workers):
        super().__init__(output, {"format": fmt, "feature_dim": feature_dim, "dtype": dtype, "max_boxes": max_boxes,
                                  "num_classes": num_classes, "skip_bad": skip_bad}, {"inputs": inputs}, num_shards)
        self.inputs, self.fmt, self.feature_dim, self.dtype, self.max_boxes = inputs, fmt, feature_dim, dtype, max_boxes
        self.num_classes, self.skip_bad, self.workers = num_classes, skip_bad, workers

    def count_items(self):
        # Indexing reads every input: only when some shard has work to do.
        self.items = _Items(self.inputs, self.fmt)
        self.num_classes = _resolve_num_classes(self.items, self.fmt, self.feature_dim, self.num_classes)
        return len(self.items)

    def store_args(self):
        return dict(feature_dim=self.feature_dim, feature_dtype=self.dtype, num_classes=self.num_classes,
                    source=[os.path.abspath(p) for p in self.inputs],
                    options={"format": self.fmt, "max_boxes": self.max_boxes, "skip_bad": self.skip_bad})

    def regions(self, shard):
        tasks = self.items.tasks(shard.start, shard.end, feature_dim=self.feature_dim, dtype=self.dtype,
                                 num_classes=self.num_classes, max_boxes=self.max_boxes)
        for results in ordered_map(_parse_batch, tasks, self.workers):
            yield from results


def import_regions(inputs, output, fmt="auto", feature_dim=2048, dtype="float16", max_boxes=None,
                   num_classes=None, skip_bad=False, num_shards=1, shard_id=None, workers=1,
                   merge=False, overwrite=False, progress=True):
    """Import ``inputs`` into the store ``output`` (or its shards); returns a ShardResult per output.

    ``shard_id=None`` runs every shard of ``num_shards`` in turn. Complete outputs are skipped
    unless ``overwrite``. ``merge`` then combines all shards into ``output`` (all must be complete).
    """
    inputs = [os.fspath(p) for p in inputs]
    if not inputs:
        raise ValueError("no inputs")
    if fmt == "auto":
        fmt = detect_format(inputs)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected auto or one of {', '.join(FORMATS)}")
    if max_boxes is not None and max_boxes < 1:
        raise ValueError(f"--max-boxes must be positive, got {max_boxes}")
    if fmt == "bua_tsv" and num_classes is not None:
        raise ValueError("--num-classes does not apply to bua_tsv (it has no class probabilities)")
    run = _ImportRun(inputs, output, fmt, feature_dim, dtype, max_boxes, num_classes, skip_bad, num_shards, workers)
    return run.run(None if shard_id is None else [shard_id], merge=merge, overwrite=overwrite, progress=progress)
