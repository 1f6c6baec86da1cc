"""The region-feature store: detector regions of one image set, memory-mapped and ragged.

A store is a directory of ``.npy`` arrays beside a ``<store>.manifest.json``::

    features.npy   (total_boxes, D) float16 or float32   the pooled region features
    boxes.npy      (total_boxes, 4) float32              absolute pixels x1, y1, x2, y2, as read
    cls_probs.npy  (total_boxes, C) feature dtype        detector class distribution (optional)
    offsets.npy    (N + 1,) int64                        image i owns rows offsets[i]:offsets[i+1]
    sizes.npy      (N, 2) int32                          image width, height
    ids.txt        N lines                               image ids, row order

Images keep their own number of boxes (no padding), and readers memory-map the arrays so
that fetching one image touches only its rows. The writer streams every array to disk and
fills in the ``.npy`` headers at the end, so a store of millions of images never sits in RAM.

The manifest records ``count``, ``total_boxes``, ``feature_dim``, ``feature_dtype``,
``num_classes``, ``source``, ``options`` and ``ids_digest``: ``sha256:`` and the hex SHA-256 of
``ids.txt``, the store's identity. Other artifacts refer to images by store row (caption and
labeled datasets, CMCL image sidecars, mined negatives); they record the digest of the store their
rows index (``region_store_digest``, see :func:`store_fields`) and their readers refuse a store
with another one (:func:`check_store_identity`), since a store rebuilt in another order, or
another store with as many images, would otherwise give every row the wrong image's regions.
A split of a caption or labeled set keeps the row of each item's image in ``{split}.image_rows.npy``
(int64, :data:`ROWS_SUFFIX`, :func:`read_rows`).

A store of some images of another (an image-only corpus of the training images, say) is made by
block copies with :func:`subset_region_store`, without extracting them again.
"""
import hashlib
import logging
import os
import struct
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from ..common.artifacts import (
    InputError,
    PathLike,
    atomic_output,
    is_complete,
    manifest_path,
    read_manifest,
    write_manifest,
)
from ..common.text_files import iter_lines

logger = logging.getLogger(__name__)

KIND = "region_store"
FORMAT_VERSION = 1
FEATURE_DTYPES = ("float16", "float32")
ROWS_SUFFIX = ".image_rows.npy"

# A fixed-size version-1.0 .npy header (a multiple of 64 bytes keeps the data aligned): the
# writer reserves it up front and fills in the shape once the row count is known.
_NPY_HEADER_BYTES = 128
_NPY_MAGIC = b"\x93NUMPY\x01\x00"
_COPY_ROWS = 1 << 14
_DIGEST_PREFIX = "sha256:"


def _npy_header(dtype, shape):
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    text = repr({"descr": descr, "fortran_order": False, "shape": tuple(int(d) for d in shape)})
    size = _NPY_HEADER_BYTES - len(_NPY_MAGIC) - 2
    if len(text) + 1 > size:
        raise ValueError(f"array shape {shape} does not fit a {_NPY_HEADER_BYTES}-byte .npy header")
    return _NPY_MAGIC + struct.pack("<H", size) + (text.ljust(size - 1) + "\n").encode("latin1")


class _NpyStream:
    """An .npy file written row block by row block; the header is written at close."""

    def __init__(self, path, dtype, row_shape=()):
        self.dtype, self.row_shape, self.rows = np.dtype(dtype), tuple(row_shape), 0
        self.file = open(path, "wb")
        self.file.write(b"\0" * _NPY_HEADER_BYTES)

    def append(self, rows):
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        assert rows.shape[1:] == self.row_shape, (rows.shape, self.row_shape)
        self.file.write(rows.data)
        self.rows += len(rows)

    def close(self):
        self.file.seek(0)
        self.file.write(_npy_header(self.dtype, (self.rows,) + self.row_shape))
        self.file.close()


class Regions(NamedTuple):
    """One image's regions; the arrays are read-only views into the store."""

    image_id: str
    width: int
    height: int
    boxes: np.ndarray
    features: np.ndarray
    cls_probs: Optional[np.ndarray]


def _check_id(image_id):
    if not isinstance(image_id, str) or not image_id or "\n" in image_id or "\r" in image_id:
        raise ValueError(f"image id {image_id!r} must be a non-empty string without line breaks")


def _check_size(name, value, image_id):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not 0 < value < 2**31:
        raise ValueError(f"image {image_id!r}: {name} must be a positive int32, got {value!r}")
    return int(value)


def _checked_array(name, values, image_id, shape, dtype):
    """``values`` cast to ``dtype`` with ``shape`` (None = any), refusing NaN/inf and overflow."""
    array = np.asarray(values)
    if array.ndim != len(shape) or any(want is not None and got != want for got, want in zip(array.shape, shape)):
        expected = "(" + ", ".join("n" if d is None else str(d) for d in shape) + ")"
        raise ValueError(f"image {image_id!r}: {name} has shape {array.shape}, expected {expected}")
    if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"image {image_id!r}: {name} has dtype {array.dtype}, expected numbers")
    if not np.isfinite(array).all():
        raise ValueError(f"image {image_id!r}: {name} contain NaN or inf")
    with np.errstate(over="ignore"):
        cast = array.astype(dtype, copy=False)
    if cast is not array and not np.isfinite(cast).all():
        raise ValueError(f"image {image_id!r}: {name} exceed the {np.dtype(dtype).name} range")
    return cast


def check_regions(image_id: str, width: int, height: int, boxes: Any, features: Any, cls_probs: Any,
                  feature_dim: int, feature_dtype: str = "float16", num_classes: Optional[int] = None) -> Tuple:
    """One image's regions validated and cast to a store's dtypes, as a tuple in ``add``'s order.

    Importer workers call it too, so the single-process writer only re-checks cheap casts.
    Raises ValueError naming the image and the field.
    """
    _check_id(image_id)
    width, height = _check_size("width", width, image_id), _check_size("height", height, image_id)
    boxes = _checked_array("boxes", boxes, image_id, (None, 4), np.float32)
    n = len(boxes)
    features = _checked_array("features", features, image_id, (n, feature_dim), feature_dtype)
    if (cls_probs is None) != (num_classes is None):
        raise ValueError(f"image {image_id!r}: cls_probs {'missing' if cls_probs is None else 'given'} "
                         f"but the store has num_classes={num_classes}")
    if cls_probs is not None:
        cls_probs = _checked_array("cls_probs", cls_probs, image_id, (n, num_classes), feature_dtype)
    return image_id, width, height, boxes, features, cls_probs


class RegionStoreWriter:
    """Stream images into a new store at ``path``; it appears, complete, only at :meth:`close`.

    Used as a context manager: an exception inside the ``with`` block leaves no store (and an
    older store at ``path`` untouched). ``cls_probs`` are kept in the feature dtype; ``source``
    and ``options`` are recorded in the manifest.
    """

    def __init__(self, path: PathLike, feature_dim: int, feature_dtype: str = "float16",
                 num_classes: Optional[int] = None, source: Optional[List[str]] = None,
                 options: Optional[Dict[str, Any]] = None):
        if feature_dtype not in FEATURE_DTYPES:
            raise ValueError(f"feature_dtype must be one of {FEATURE_DTYPES}, got {feature_dtype!r}")
        if int(feature_dim) <= 0 or (num_classes is not None and int(num_classes) <= 0):
            raise ValueError(f"feature_dim ({feature_dim}) and num_classes ({num_classes}) must be positive")
        self.path = os.fspath(path)
        self.feature_dim, self.feature_dtype = int(feature_dim), feature_dtype
        self.num_classes = None if num_classes is None else int(num_classes)
        self.source, self.options = source, options
        self._seen, self._total, self._closed = set(), 0, False
        self._ids_digest = hashlib.sha256()  # of ids.txt's bytes, as they are written
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._atomic = atomic_output(self.path)
        tmp = self._atomic.__enter__()
        try:
            os.makedirs(tmp)
            join = lambda name: os.path.join(tmp, name)  # noqa: E731
            self._features = _NpyStream(join("features.npy"), feature_dtype, (self.feature_dim,))
            self._boxes = _NpyStream(join("boxes.npy"), np.float32, (4,))
            self._cls_probs = (None if self.num_classes is None
                               else _NpyStream(join("cls_probs.npy"), feature_dtype, (self.num_classes,)))
            self._offsets = _NpyStream(join("offsets.npy"), np.int64)
            self._sizes = _NpyStream(join("sizes.npy"), np.int32, (2,))
            self._ids = open(join("ids.txt"), "w", encoding="utf-8", newline="\n")
            self._offsets.append(np.zeros(1, np.int64))
        except BaseException as e:
            self._atomic.__exit__(type(e), e, e.__traceback__)
            raise

    def __len__(self):
        return len(self._seen)

    def _streams(self):
        streams = (self._features, self._boxes, self._cls_probs, self._offsets, self._sizes)
        return [s for s in streams if s is not None]

    def _claim(self, image_id, where):
        _check_id(image_id)
        if image_id in self._seen:
            raise ValueError(f"duplicate image id {image_id!r}{where}: already added to {self.path}")

    def add(self, image_id: str, width: int, height: int, boxes: Any, features: Any, cls_probs: Any = None) -> None:
        """Append one image; everything is validated before anything is written."""
        self._claim(image_id, "")
        _, width, height, boxes, features, cls_probs = check_regions(
            image_id, width, height, boxes, features, cls_probs,
            self.feature_dim, self.feature_dtype, self.num_classes)
        self._features.append(features)
        self._boxes.append(boxes)
        if cls_probs is not None:
            self._cls_probs.append(cls_probs)
        self._total += len(boxes)
        self._offsets.append(np.array([self._total], np.int64))
        self._sizes.append(np.array([[width, height]], np.int32))
        self._write_ids([image_id])
        self._seen.add(image_id)

    def _write_ids(self, image_ids):
        lines = "".join(image_id + "\n" for image_id in image_ids)
        self._ids.write(lines)
        self._ids_digest.update(lines.encode("utf-8"))

    def add_rows(self, store: "RegionStore", rows: Optional[Sequence[int]] = None) -> None:
        """Append images ``rows`` (default: all, in order) of another store with the same dim, dtype and
        classes, copying each run of consecutive rows in blocks: no image is decoded or re-checked."""
        got = (store.feature_dim, store.feature_dtype, store.num_classes)
        if got != (self.feature_dim, self.feature_dtype, self.num_classes):
            raise ValueError(f"cannot copy images of {store.path} (feature_dim, dtype, num_classes = {got}) into "
                             f"{self.path} ({(self.feature_dim, self.feature_dtype, self.num_classes)})")
        rows = np.arange(len(store)) if rows is None else np.asarray(rows, np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(store)):
            raise IndexError(f"rows out of range for region store {store.path} with {len(store)} images")
        ids = [store.ids[row] for row in rows]
        for image_id in ids:
            self._claim(image_id, f" (from {store.path})")
            self._seen.add(image_id)
        for run in np.split(rows, np.flatnonzero(np.diff(rows) != 1) + 1) if len(rows) else []:
            first, last = int(run[0]), int(run[-1]) + 1
            start, end = int(store._offsets[first]), int(store._offsets[last])
            for name in ("features", "boxes", "cls_probs"):
                src, dst = getattr(store, "_" + name), getattr(self, "_" + name)
                for block in range(start, end if src is not None else start, _COPY_ROWS):
                    dst.append(src[block:min(block + _COPY_ROWS, end)])
            self._offsets.append(store._offsets[first + 1:last + 1] - start + self._total)
            self._sizes.append(store.sizes[first:last])
            self._total += end - start
        self._write_ids(ids)

    def close(self) -> None:
        """Finish the arrays, move the store into place, then write its manifest."""
        if self._closed:
            return
        self._closed = True
        try:
            for stream in self._streams():
                stream.close()
            self._ids.close()
        except BaseException as e:
            self._atomic.__exit__(type(e), e, e.__traceback__)
            raise
        # Drop an older store's manifest first: a crash before the new one is written then
        # leaves an incomplete store, which a resumed run redoes.
        if os.path.exists(manifest_path(self.path)):
            os.remove(manifest_path(self.path))
        self._atomic.__exit__(None, None, None)
        write_manifest(self.path, KIND, count=len(self._seen), total_boxes=self._total,
                       feature_dim=self.feature_dim, feature_dtype=self.feature_dtype,
                       num_classes=self.num_classes, source=self.source, options=self.options,
                       ids_digest=_DIGEST_PREFIX + self._ids_digest.hexdigest())

    def _abort(self, exc):
        if self._closed:
            return
        self._closed = True
        for stream in self._streams():
            stream.file.close()
        self._ids.close()
        self._atomic.__exit__(type(exc), exc, exc.__traceback__)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            self.close()
        else:
            self._abort(exc)


class RegionStore:
    """Read-only, memory-mapped access to a store written by :class:`RegionStoreWriter`.

    ``ids`` (row order), ``num_boxes`` and ``sizes`` ((N, 2) width, height) describe every image
    without reading any features; ``store[row]`` gives one image's :class:`Regions`.
    """

    def __init__(self, path: PathLike):
        self.path = os.fspath(path)
        if not is_complete(self.path):
            raise FileNotFoundError(f"{self.path}: not a complete region store (need the directory and "
                                    f"{manifest_path(self.path)}; an interrupted write leaves neither)")
        self.manifest = read_manifest(self.path)
        if self.manifest.get("kind") != KIND or self.manifest.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{manifest_path(self.path)}: kind {self.manifest.get('kind')!r} version "
                             f"{self.manifest.get('format_version')!r}, expected {KIND!r} version {FORMAT_VERSION}")
        load = lambda name: np.load(os.path.join(self.path, name), mmap_mode="r")  # noqa: E731
        self._features, self._boxes = load("features.npy"), load("boxes.npy")
        self._offsets, self.sizes = load("offsets.npy"), load("sizes.npy")
        has_cls = os.path.exists(os.path.join(self.path, "cls_probs.npy"))
        self._cls_probs = load("cls_probs.npy") if has_cls else None
        with open(os.path.join(self.path, "ids.txt"), encoding="utf-8", newline="\n") as f:
            self.ids = f.read().split("\n")[:-1]
        self._rows, self._ids_digest = None, self.manifest.get("ids_digest")
        self._check()

    def _check(self):
        n, total, m = len(self.ids), int(self._offsets[-1]), self.manifest
        problems = [
            f"{name} has {got}, manifest says {want}"
            for name, got, want in [
                ("ids.txt lines", n, m["count"]),
                ("offsets.npy length", len(self._offsets), n + 1),
                ("sizes.npy shape", self.sizes.shape, (n, 2)),
                ("offsets[-1]", total, m["total_boxes"]),
                ("features.npy shape", self._features.shape, (total, m["feature_dim"])),
                ("features.npy dtype", self._features.dtype.name, m["feature_dtype"]),
                ("boxes.npy shape", self._boxes.shape, (total, 4)),
                ("cls_probs.npy shape", None if self._cls_probs is None else self._cls_probs.shape,
                 None if m["num_classes"] is None else (total, m["num_classes"])),
            ]
            if got != want
        ]
        if problems:
            raise ValueError(f"{self.path}: inconsistent region store: " + "; ".join(problems))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def feature_dim(self) -> int:
        return self._features.shape[1]

    @property
    def feature_dtype(self) -> str:
        return self._features.dtype.name

    @property
    def num_classes(self) -> Optional[int]:
        return None if self._cls_probs is None else self._cls_probs.shape[1]

    @property
    def num_boxes(self) -> np.ndarray:
        return np.diff(self._offsets)

    @property
    def ids_digest(self) -> str:
        """The store's identity: the SHA-256 of ``ids.txt`` (its image ids in row order), as the
        manifest records it; hashed here, once, for a store written before manifests recorded it."""
        if self._ids_digest is None:
            with open(os.path.join(self.path, "ids.txt"), "rb") as f:
                self._ids_digest = _DIGEST_PREFIX + hashlib.sha256(f.read()).hexdigest()
        return self._ids_digest

    def _row_index(self):
        if self._rows is None:
            self._rows = {image_id: row for row, image_id in enumerate(self.ids)}
        return self._rows

    def has(self, image_id: str) -> bool:
        return image_id in self._row_index()

    def row_of(self, image_id: str) -> int:
        try:
            return self._row_index()[image_id]
        except KeyError:
            raise KeyError(f"image id {image_id!r} is not in region store {self.path}") from None

    def __getitem__(self, row: int) -> Regions:
        if not -len(self) <= row < len(self):
            raise IndexError(f"row {row} out of range for region store {self.path} with {len(self)} images")
        row = int(row) % len(self)
        start, end = int(self._offsets[row]), int(self._offsets[row + 1])
        width, height = (int(v) for v in self.sizes[row])
        cls_probs = None if self._cls_probs is None else self._cls_probs[start:end]
        return Regions(self.ids[row], width, height, self._boxes[start:end], self._features[start:end], cls_probs)

    def __getstate__(self):
        # Pickling the memory maps would copy the whole store; worker processes re-open it instead.
        return {"path": self.path}

    def __setstate__(self, state):
        self.__init__(state["path"])


def store_fields(store: RegionStore, artifact: PathLike) -> Dict[str, Any]:
    """The manifest fields of an artifact (``artifact`` is its path) that holds rows of ``store``: the
    store's path, relative to the manifest's folder so that a data directory can move as a whole, its
    image count and creation time, and its identity, which readers check with :func:`check_store_identity`."""
    return dict(region_store=os.path.relpath(os.path.abspath(store.path), os.path.dirname(os.path.abspath(artifact))),
                region_store_images=len(store), region_store_created=store.manifest["created"],
                region_store_digest=store.ids_digest)


def region_store_of(artifact: PathLike, manifest: Optional[Dict[str, Any]] = None) -> str:
    """Path of the region store an artifact's manifest (``manifest``, or read from ``artifact``) names."""
    recorded = (manifest or read_manifest(artifact))["region_store"]
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(artifact)), recorded))


def check_store_identity(store: RegionStore, recorded: Dict[str, Any], artifact: PathLike) -> None:
    """Refuse ``store`` for an artifact whose manifest fields ``recorded`` (see :func:`store_fields`) name
    another store identity: its rows would index other images, or the same images in another order.

    An artifact written before stores had a digest is checked by its image count, where it records one,
    and a warning says that the store's identity could not be verified.
    """
    where = manifest_path(artifact)
    digest, count = recorded.get("region_store_digest"), recorded.get("region_store_images")
    if digest is not None:
        if digest != store.ids_digest:
            raise ValueError(f"{where}: its rows were written for a region store with ids digest {digest}, but "
                             f"region store {store.path} has {store.ids_digest}: the store's images are not the "
                             f"ones, or not in the order, that the rows were written for")
        return
    if count is not None and count != len(store):
        raise ValueError(f"{where}: its rows were written for a region store of {count} images, but region store "
                         f"{store.path} has {len(store)}: the store's images are not the ones the rows were "
                         f"written for")
    logger.warning(f"{where}: no region-store digest recorded (written before stores had one): cannot verify that "
                   f"region store {store.path} holds the images its rows were written for, in their order"
                   f"{'' if count is None else f' (its image count, {count}, matches)'}; rewrite it to record one")


def open_region_store_of(artifact: PathLike, override: Optional[PathLike] = None,
                         option: Optional[str] = None) -> RegionStore:
    """The region store whose rows ``artifact`` holds: the one its manifest names, or ``override`` (given as
    ``option``), checked to be the store the rows were written for. A missing store is an error that says
    where its path came from."""
    recorded = read_manifest(artifact)
    path = override or region_store_of(artifact, recorded)
    if not os.path.exists(manifest_path(path)):
        if override:
            raise FileNotFoundError(f"{option} {path}: no region store there")
        raise FileNotFoundError(f"{manifest_path(artifact)} names region store {path}, which is not there"
                                + (f"; pass {option}" if option else ""))
    store = RegionStore(path)
    check_store_identity(store, recorded, artifact)
    return store


def normalized_boxes(boxes: Any, width: int, height: int) -> np.ndarray:
    """The model's 5-d box input: ``[x1/W, y1/H, x2/W, y2/H, area/(W*H)]`` as float32.

    Boxes are clipped to the image first: detectors can emit boxes slightly outside it, and the
    model expects coordinates and areas in [0, 1].
    """
    scale = np.array([width, height, width, height], np.float64)
    boxes = np.clip(np.asarray(boxes, np.float64).reshape(-1, 4), 0, scale)
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    out = np.empty((len(boxes), 5), np.float32)
    out[:, :4] = boxes / scale
    out[:, 4] = area / (float(width) * float(height))
    return out


def save_rows(prefix: PathLike, rows: Any) -> None:
    """Write ``{prefix}.image_rows.npy``: the int64 store row of each item of a split."""
    np.save(f"{prefix}{ROWS_SUFFIX}", np.asarray(rows, dtype=np.int64))


def read_rows(prefix: PathLike, count: Optional[int] = None, mmap_mode: Optional[str] = None) -> np.ndarray:
    """The store rows of a split's items from ``{prefix}.image_rows.npy``; ``count`` (its items) checks it."""
    path = f"{prefix}{ROWS_SUFFIX}"
    rows = np.load(path, mmap_mode=mmap_mode)
    if count is not None and len(rows) != count:
        raise InputError(path, f"{len(rows)} image rows for the {count} items of {prefix}")
    return rows


def merge_region_stores(paths: Sequence[PathLike], output: PathLike) -> None:
    """Concatenate stores (e.g. the shards of one run) in order into a new store ``output``."""
    if not paths:
        raise ValueError("merge_region_stores: no input stores")
    stores = [RegionStore(p) for p in paths]
    first = stores[0]
    for store in stores[1:]:
        got = (store.feature_dim, store.feature_dtype, store.num_classes)
        want = (first.feature_dim, first.feature_dtype, first.num_classes)
        if got != want:
            raise ValueError(f"cannot merge {store.path} (feature_dim, dtype, num_classes = {got}) with "
                             f"{first.path} ({want})")
    sources = []
    for store in stores:
        for src in store.manifest.get("source") or []:
            if src not in sources:
                sources.append(src)
    options = dict(first.manifest.get("options") or {}, merged_from=[s.path for s in stores])
    with RegionStoreWriter(output, first.feature_dim, first.feature_dtype, first.num_classes,
                           source=sources, options=options) as writer:
        for store in stores:
            writer.add_rows(store)


def read_id_list(path: PathLike) -> List[str]:
    """Image ids, one per line (blank lines ignored); a repeated id is refused with its line."""
    ids, seen = [], {}
    for line_number, line in iter_lines(path):
        image_id = line.strip()
        if not image_id:
            continue
        if image_id in seen:
            raise InputError(path, f"image id {image_id!r} repeats line {seen[image_id]}", line=line_number)
        seen[image_id] = line_number
        ids.append(image_id)
    if not ids:
        raise InputError(path, "lists no image ids")
    return ids


def subset_region_store(path: PathLike, image_ids: Sequence[str], output: PathLike,
                        ids_source: Optional[str] = None) -> "RegionStore":
    """Write the store ``output`` holding images ``image_ids`` of store ``path``, in that order, by block
    copies (no second extraction). ``ids_source`` names where the ids came from, for errors and the
    manifest. An id not in the store is an error naming it and the store."""
    store = RegionStore(path)
    missing = [image_id for image_id in image_ids if not store.has(image_id)]
    if missing:
        raise InputError(ids_source or path, f"{len(missing)} of {len(image_ids)} image ids are not in region store "
                                             f"{store.path} (first: {', '.join(map(repr, missing[:5]))})")
    options = dict(store.manifest.get("options") or {}, subset_of=os.path.abspath(store.path),
                   subset_of_digest=store.ids_digest, subset_ids=ids_source)
    with RegionStoreWriter(output, store.feature_dim, store.feature_dtype, store.num_classes,
                           source=store.manifest.get("source"), options=options) as writer:
        writer.add_rows(store, [store.row_of(image_id) for image_id in image_ids])
    return RegionStore(output)
