"""Extract region features from a folder of images into region stores, with ``RegionDetector``.

Each image (id = file stem) becomes one store entry: its detected regions (bottom-up-attention
selection), or the given boxes of a ``--boxes`` file pooled as they are. Images are decoded by
DataLoader workers and run through the detector in batches. Like the importer, the images are split
into contiguous shards, each its own store, so an interrupted run resumes by redoing only the shards
without a manifest, and ``merge`` concatenates the shards into the final store.

Boxes files map an image file name or id to boxes ``x1, y1, x2, y2`` in original pixels, either as
JSON ``{"image": [[x1, y1, x2, y2], ...], ...}`` or as a TSV with one box per line
``image<TAB>x1<TAB>y1<TAB>x2<TAB>y2``.
"""
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.functional import to_tensor
from tqdm import tqdm

from ...common.artifacts import InputError, is_complete, shard_bounds, shard_output
from ...formats.region_store import RegionStoreWriter
from ...models.region_detector import build_detector
from .region_shards import ShardResult, merge_shards

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
_MAX_REPORTED = 10  # bad images quoted in the summary under skip_bad


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
            raise InputError(path, "expected a JSON object mapping image file or id to [[x1, y1, x2, y2], ...]")
        for name, entries in mapping.items():
            key = _box_key(name)
            if key in boxes:
                raise InputError(path, f"image {name!r}: its id {key!r} is listed twice")
            if not isinstance(entries, list) or not entries:
                raise InputError(path, f"image {name!r}: expected a non-empty list of [x1, y1, x2, y2] boxes")
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
    shard_ids = range(num_shards) if shard_id is None else [shard_id]
    for k in shard_ids:
        shard_bounds(0, num_shards, k)  # validates the shard id before any work
    images = list_images(image_dir, image_list)
    boxes = None if boxes_file is None else read_boxes_file(boxes_file)
    results, detector = [], None
    for k in shard_ids:
        output_k = shard_output(output, num_shards, k)
        if is_complete(output_k) and not overwrite:
            results.append(ShardResult(output_k, skipped=True))
            continue
        start, end = shard_bounds(len(images), num_shards, k)
        if boxes is not None:
            missing = [path for image_id, path in images[start:end] if image_id not in boxes]
            if missing:
                raise InputError(boxes_file, f"no boxes for {len(missing)} image(s): {', '.join(missing[:5])}"
                                             f"{' ...' if len(missing) > 5 else ''}")
        if detector is None:  # building (and loading) the detector only when some shard has work
            detector = build_detector(weights, random_init, seed, **(detector_config or {})).to(device)
        options = dict(detector.config, weights=_absolute(weights), random_init=random_init, seed=seed,
                       image_list=_absolute(image_list), boxes=_absolute(boxes_file), batch_size=batch_size,
                       skip_bad=skip_bad, torchvision=torchvision.__version__)
        store_args = dict(feature_dim=detector.feature_dim, feature_dtype=dtype, num_classes=detector.num_classes,
                          source=[os.path.abspath(image_dir)], options=options)
        results.append(_extract_shard(detector, images[start:end], boxes, output_k, store_args, batch_size,
                                      device, workers, skip_bad, progress))
    if merge and num_shards > 1:
        results.append(merge_shards(output, num_shards, results, overwrite))
    return results


def _absolute(path):
    return None if path is None else os.path.abspath(path)


def _extract_shard(detector, images, boxes, output, store_args, batch_size, device, workers, skip_bad, progress):
    result, t0 = ShardResult(output), time.time()
    loader = DataLoader(ImageFiles(images), batch_size=batch_size, num_workers=workers, collate_fn=list)
    with RegionStoreWriter(output, **store_args) as writer, \
            tqdm(total=len(images), unit="img", desc=os.path.basename(output), disable=not progress) as bar:
        for batch in loader:
            bar.update(len(batch))
            good = []
            for image_id, path, image in batch:
                if not isinstance(image, str):
                    good.append((image_id, path, image))
                elif skip_bad:
                    result.bad += 1
                    if len(result.bad_examples) < _MAX_REPORTED:
                        result.bad_examples.append(str(InputError(path, image)))
                else:
                    raise InputError(path, image)
            if not good:
                continue
            given = None if boxes is None else [torch.from_numpy(boxes[image_id]) for image_id, _, _ in good]
            regions = detector.extract([image.to(device) for _, _, image in good], given)
            for (image_id, path, image), region in zip(good, regions):
                height, width = image.shape[-2:]
                try:
                    writer.add(image_id, width, height, *(region[k].cpu().numpy()
                                                          for k in ("boxes", "features", "cls_probs")))
                except ValueError as e:  # e.g. features beyond the float16 range
                    raise InputError(path, str(e)) from None
                result.images, result.boxes = result.images + 1, result.boxes + len(region["boxes"])
    result.seconds = time.time() - t0
    return result


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
