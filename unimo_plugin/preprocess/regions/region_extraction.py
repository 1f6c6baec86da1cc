"""Extract region features from a folder of images into region stores, with ``RegionDetector``.

Each image (id = file stem) becomes one store entry: its detected regions (bottom-up-attention
selection), or the given boxes of a ``--boxes`` file pooled as they are. Images are decoded by
DataLoader workers and run through the detector in batches. Like the importer, the images are split
into contiguous shards of one sharded run (``common/sharded_run.py``), each its own store, so an
interrupted run resumes by redoing only the shards not complete yet, and ``merge`` concatenates the
shards into the final store.

A boxes file gives boxes ``x1, y1, x2, y2`` in original pixels per image, as

- JSON: an object keyed by image whose values are the image's boxes ``[[x1, y1, x2, y2], ...]``, or
  records holding them under ``"boxes"`` (other fields, e.g. ``"classes"``, are ignored)::

      {"img1.jpg": [[0, 0, 10, 10], ...], ...}
      {"391895": {"boxes": [[0, 0, 10, 10], ...], "classes": [...]}, ...}

- TSV: one box per line, ``image<TAB>x1<TAB>y1<TAB>x2<TAB>y2``.

An image is named by its file name (folders allowed), its id (the file stem) or, as caption files
such as Karpathy's ``dataset_coco.json`` name COCO images (``cocoid``), by the number in its file
name: ``391895`` or ``000000391895`` for ``COCO_val2014_000000391895.jpg``.
"""
import inspect
import json
import math
import os
import re
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.functional import to_tensor

from ...common.artifacts import InputError
from ...models.region_detector import RegionDetector, build_detector
from .region_shards import RegionStoreRun

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
DETECTOR_DEFAULTS = {name: p.default for name, p in inspect.signature(RegionDetector).parameters.items()}
_BOXES_SHAPE = ("expected a JSON object mapping each image (file name, id or the number in its file name) to "
                "[[x1, y1, x2, y2], ...] or to {\"boxes\": [[x1, y1, x2, y2], ...], ...}")
_NUMBER = re.compile(r"(\d+)\D*$")  # the last number of a file stem: the id COCO's file names carry


def list_images(image_dir, image_list=None):
    """``(image_id, path)`` pairs: the files named in ``image_list`` (one path per line, relative to
    ``image_dir`` or absolute) in its order, else every .jpg/.jpeg/.png under ``image_dir`` sorted by path.
    """
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise InputError(image_dir, "not a directory of images")
    if image_list is None:
        paths = sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not paths:
            raise InputError(image_dir, f"no {'/'.join(IMAGE_EXTENSIONS)} images in this folder or below")
        lines = [(None, p) for p in paths]
    else:
        with open(image_list, encoding="utf-8") as f:
            lines = [(n, image_dir / line.strip()) for n, line in enumerate(f, 1) if line.strip()]
        if not lines:
            raise InputError(image_list, "lists no images")
    images, seen = [], {}
    for line, path in lines:
        if not path.is_file():
            raise InputError(image_list, f"no such image file {path}", line)
        if path.stem in seen:
            raise InputError(image_list or image_dir, f"image id {path.stem!r} of {path} is also the id of "
                                                      f"{seen[path.stem]}: ids (file stems) must be unique", line)
        seen[path.stem] = path
        images.append((path.stem, str(path)))
    return images


def _box_key(name):
    """Boxes files may name an image by file name (with folders) or by id; both map to the id."""
    return Path(name).stem if Path(name).suffix.lower() in IMAGE_EXTENSIONS else name


def _number(name):
    match = _NUMBER.search(name)
    return None if match is None else str(int(match.group(1)))


def _checked_box(values, path, where, line=None):
    try:
        box = [float(v) for v in values]
    except (TypeError, ValueError):
        raise InputError(path, f"{where}: {values!r} is not four numbers x1, y1, x2, y2", line) from None
    if len(box) != 4 or not all(map(math.isfinite, box)):
        raise InputError(path, f"{where}: {values!r} is not four finite numbers x1, y1, x2, y2", line)
    if box[2] < box[0] or box[3] < box[1]:
        raise InputError(path, f"{where}: {values!r} has x2 < x1 or y2 < y1 (boxes are x1, y1, x2, y2, "
                               "not x, y, w, h)", line)
    return box


def read_boxes_file(path):
    """``{image_id: (n, 4) float32 boxes}`` from a JSON or TSV boxes file (see the module docstring)."""
    boxes = {}
    if str(path).lower().endswith(".json"):
        with open(path, encoding="utf-8") as f:
            try:
                mapping = json.load(f)
            except json.JSONDecodeError as e:
                raise InputError(path, f"invalid JSON: {e.msg}", e.lineno) from None
        if not isinstance(mapping, dict):
            raise InputError(path, f"{_BOXES_SHAPE}; found a JSON {type(mapping).__name__}")
        for name, entries in mapping.items():
            key = _box_key(name)
            if key in boxes:
                raise InputError(path, f"image {name!r}: its id {key!r} is listed twice")
            if isinstance(entries, dict):
                if "boxes" not in entries:
                    raise InputError(path, f"image {name!r}: a record without \"boxes\" (it has "
                                           f"{', '.join(map(repr, entries)) or 'no fields'}); {_BOXES_SHAPE}")
                entries = entries["boxes"]
            if not isinstance(entries, list) or not entries:
                raise InputError(path, f"image {name!r}: expected a non-empty list of [x1, y1, x2, y2] boxes; "
                                       f"{_BOXES_SHAPE}")
            boxes[key] = [_checked_box(b, path, f"image {name!r} box {i}") for i, b in enumerate(entries)]
    else:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                fields = line.rstrip("\n").split("\t")
                if len(fields) != 5:
                    raise InputError(path, f"expected 5 tab-separated fields image, x1, y1, x2, y2; "
                                           f"got {len(fields)}", n)
                boxes.setdefault(_box_key(fields[0]), []).append(
                    _checked_box(fields[1:], path, f"image {fields[0]!r}", n))
        if not boxes:
            raise InputError(path, "lists no boxes")
    return {key: np.asarray(b, np.float32) for key, b in boxes.items()}


def boxes_of_images(boxes, images, path):
    """``{image_id: boxes}`` of ``images`` (``(image_id, path)`` pairs) from a boxes file's entries, which
    name an image by its id (file stem) or by the number in its file name. An image without boxes, or a
    number that two images carry, is an error that says how the file must name them."""
    by_number = {}
    for image_id, _ in images:
        if image_id not in boxes and _number(image_id) is not None:
            by_number.setdefault(_number(image_id), []).append(image_id)
    numbered = {}
    for key, value in boxes.items():
        number = str(int(key)) if re.fullmatch(r"\d+", key, re.ASCII) else None
        owners = by_number.get(number, [])
        if len(owners) > 1:
            raise InputError(path, f"image {key!r}: the number {number} is in the file names of {', '.join(owners)}: "
                                   f"name the image by its file name instead")
        if owners and owners[0] in numbered:
            raise InputError(path, f"image {key!r}: another key names image {owners[0]!r} by the same number")
        if owners:
            numbered[owners[0]] = value
    found = {image_id: boxes[image_id] if image_id in boxes else numbered.get(image_id) for image_id, _ in images}
    missing = [image_path for image_id, image_path in images if found[image_id] is None]
    if missing:
        listed = ", ".join(map(repr, list(boxes)[:3]))
        raise InputError(path, f"no boxes for {len(missing)} of {len(images)} image(s): {', '.join(missing[:5])}"
                               f"{' ...' if len(missing) > 5 else ''}. The file must name each image by its file "
                               f"name, its id (the file stem, e.g. {images[0][0]!r}) or the number in its file name; "
                               f"it names {listed}{' ...' if len(boxes) > 3 else ''}")
    return found


class ImageFiles(Dataset):
    """Decoded images as ``(image_id, path, (3, H, W) float tensor in [0, 1] or the error message)``.

    A decoding error is returned, not raised, so the caller reports it with the file name (or counts
    it) whether decoding ran in a worker process or not. EXIF orientation is ignored: the pixel grid
    as stored is the one dataset annotations (COCO, Visual Genome) give boxes in.
    """

    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image_id, path = self.images[index]
        try:
            with Image.open(path) as image:
                return image_id, path, to_tensor(image.convert("RGB"))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            return image_id, path, f"cannot read image: {e}"


class _ExtractionRun(RegionStoreRun):
    def __init__(self, images, output, config, weights, random_init, seed, image_list, boxes_file, batch_size,
                 device, dtype, skip_bad, workers, num_shards, image_dir):
        options = dict(config, random_init=random_init, seed=seed if random_init else None, batch_size=batch_size,
                       dtype=dtype, skip_bad=skip_bad, torchvision=torchvision.__version__)
        inputs = {"images": [path for _, path in images], "image_list": [image_list] if image_list else [],
                  "boxes": [boxes_file] if boxes_file else [], "weights": [weights] if weights else []}
        super().__init__(output, options, inputs, num_shards)
        self.images, self.config, self.weights, self.random_init, self.seed = images, config, weights, random_init, seed
        self.image_list, self.boxes_file, self.batch_size, self.device, self.dtype = (image_list, boxes_file,
                                                                                       batch_size, device, dtype)
        self.skip_bad, self.workers, self.image_dir = skip_bad, workers, image_dir

    def count_items(self):
        return len(self.images)

    def prepare(self, shards):
        # Boxes are checked, and the detector built (and loaded), only when some shard has work.
        self.boxes = None
        if self.boxes_file is not None:
            wanted = [image for shard in shards for image in self.images[shard.start:shard.end]]
            self.boxes = boxes_of_images(read_boxes_file(self.boxes_file), wanted, self.boxes_file)
        self.detector = build_detector(self.weights, self.random_init, self.seed, **self.config).to(self.device)

    def store_args(self):
        options = dict(self.detector.config, weights=_absolute(self.weights), random_init=self.random_init,
                       seed=self.seed, image_list=_absolute(self.image_list), boxes=_absolute(self.boxes_file),
                       batch_size=self.batch_size, skip_bad=self.skip_bad, torchvision=torchvision.__version__)
        return dict(feature_dim=self.detector.feature_dim, feature_dtype=self.dtype,
                    num_classes=self.detector.num_classes, source=[os.path.abspath(self.image_dir)], options=options)

    def regions(self, shard):
        loader = DataLoader(ImageFiles(self.images[shard.start:shard.end]), batch_size=self.batch_size,
                            num_workers=self.workers, collate_fn=list)
        for batch in loader:
            good = [(image_id, path, image) for image_id, path, image in batch if not isinstance(image, str)]
            regions = iter(self.detector.extract(
                [image.to(self.device) for _, _, image in good],
                None if self.boxes is None else [torch.from_numpy(self.boxes[image_id]) for image_id, _, _ in good])
                if good else [])
            for image_id, path, image in batch:
                if isinstance(image, str):  # the decoding error
                    yield path, None, image
                    continue
                region = next(regions)
                height, width = image.shape[-2:]
                yield path, None, (image_id, width, height, *(region[k].cpu().numpy()
                                                              for k in ("boxes", "features", "cls_probs")))


def extract_regions(image_dir, output, detector_config=None, weights=None, random_init=False, seed=0,
                    image_list=None, boxes_file=None, batch_size=1, device="cpu", dtype="float16",
                    num_shards=1, shard_id=None, workers=1, merge=False, overwrite=False, skip_bad=False,
                    progress=True):
    """Extract the images of ``image_dir`` into the store ``output`` (or its shards); a ShardResult each.

    ``detector_config``: keyword arguments of ``RegionDetector``. ``shard_id=None`` runs every shard
    in turn; complete outputs are skipped unless ``overwrite``; ``merge`` then combines all shards into
    ``output``. ``workers`` DataLoader processes decode images (0: in this process). Batches pad images
    to a common size, so with mixed image sizes features near the right/bottom edges depend slightly on
    the batch: ``batch_size=1`` makes every image's result independent of the others.
    """
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available on this machine")
    config = dict(DETECTOR_DEFAULTS, **(detector_config or {}))
    run = _ExtractionRun(list_images(image_dir, image_list), output, config, weights, random_init, seed, image_list,
                         boxes_file, batch_size, device, dtype, skip_bad, workers, num_shards, image_dir)
    return run.run(None if shard_id is None else [shard_id], merge=merge, overwrite=overwrite, progress=progress)


def _absolute(path):
    return None if path is None else os.path.abspath(path)


def benchmark_extraction(backbone="resnet18", min_size=128, max_size=192, num_images=4, batch_size=1,
                         image_size=(480, 640), device="cpu", warmup=1, seed=0):
    """Throughput of ``RegionDetector.extract`` (proposals mode, random weights, random images of
    ``image_size`` = (H, W), decoding and writing excluded) after ``warmup`` untimed batches.

    A random detector is confident about nothing, so every image takes the min-boxes top-up of
    ``select_regions`` (~0.03 s per image on an H200): a lower bound for a trained detector.
    Returns a dict of the settings plus ``seconds``, ``images_per_s`` and ``boxes_per_image``.
    """
    detector = build_detector(random_init=True, seed=seed, backbone=backbone, min_size=min_size,
                              max_size=max_size).to(device)
    generator = torch.Generator().manual_seed(seed)
    batches = [[torch.rand(3, *image_size, generator=generator).to(device) for _ in range(batch_size)]
               for _ in range(warmup + math.ceil(num_images / batch_size))]
    for batch in batches[:warmup]:
        detector.extract(batch)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0, boxes = time.perf_counter(), 0
    for batch in batches[warmup:]:
        boxes += sum(len(region["boxes"]) for region in detector.extract(batch))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    timed = len(batches[warmup:]) * batch_size
    return dict(backbone=backbone, min_size=min_size, max_size=max_size, image_size=tuple(image_size),
                num_images=timed, batch_size=batch_size, device=device, seconds=seconds,
                images_per_s=timed / seconds, boxes_per_image=boxes / timed)
