#!/usr/bin/env python3
"""Region-feature benchmarks on synthetic data; ``main()`` runs the SECTIONS in order.

random access: images/s of a training-style random read (features as float32, boxes) from the
region store, and from the bottom-up-attention TSV the usual way without a store (seek to the line
through a line-offset index, base64-decode), side by side on the same images and the same read
order. Both files are fresh in the page cache, so this is the CPU cost of a read, not disk speed.
"""
import argparse
import base64
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unimo_plugin.formats.region_store import RegionStore, normalized_boxes  # noqa: E402
from unimo_plugin.preprocess.regions.region_extraction import benchmark_extraction  # noqa: E402
from unimo_plugin.preprocess.regions.region_import import import_regions, tsv_line_offsets  # noqa: E402

FEATURE_DIM = 2048


def write_bua_tsv(path, num_images, num_boxes, rng):
    """Synthetic bottom-up-attention TSV; each image's features are a random window of a shared pool."""
    pool = rng.standard_normal((4 * num_boxes + 1024, FEATURE_DIM)).astype(np.float32)
    with open(path, "w") as f:
        for i in range(num_images):
            start = int(rng.integers(0, len(pool) - num_boxes))
            xy = rng.random((num_boxes, 2)) * 400
            boxes = np.concatenate([xy, xy + 20 + rng.random((num_boxes, 2)) * 200], 1).astype(np.float32)
            f.write("\t".join([str(100000 + i), "640", "480", str(num_boxes),
                               base64.b64encode(boxes.tobytes()).decode(),
                               base64.b64encode(pool[start:start + num_boxes].tobytes()).decode()]) + "\n")


def read_store(store, rows):
    for row in rows:
        regions = store[row]
        features = np.asarray(regions.features, np.float32)
        boxes = normalized_boxes(regions.boxes, regions.width, regions.height)
    return features, boxes


def read_tsv(path, offsets, rows):
    with open(path, "rb") as f:
        for row in rows:
            f.seek(offsets[row])
            fields = f.readline().split(b"\t")
            width, height, num_boxes = int(fields[1]), int(fields[2]), int(fields[3])
            features = np.frombuffer(base64.b64decode(fields[5]), np.float32).reshape(num_boxes, FEATURE_DIM)
            boxes = normalized_boxes(np.frombuffer(base64.b64decode(fields[4]), np.float32).reshape(num_boxes, 4),
                                     width, height)
    return features, boxes


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def bench_random_access(args, workdir):
    rng = np.random.default_rng(args.seed)
    print(f"{'boxes':>5} {'images':>6} {'TSV MB':>7} {'store MB':>8} {'import img/s':>12} "
          f"{'store img/s':>11} {'TSV img/s':>9} {'store/TSV':>9}")
    for num_boxes, num_images in ((36, args.images_36), (100, args.images_100)):
        tsv, out = os.path.join(workdir, f"b{num_boxes}.tsv"), os.path.join(workdir, f"b{num_boxes}")
        write_bua_tsv(tsv, num_images, num_boxes, rng)
        seconds, _ = timed(lambda: import_regions([tsv], out, "bua_tsv", FEATURE_DIM, "float16", progress=False))
        import_rate = num_images / seconds
        store, offsets = RegionStore(out), tsv_line_offsets(tsv)
        rows = rng.integers(0, num_images, args.reads)
        store_s, (store_features, _) = timed(read_store, store, rows)
        tsv_s, (tsv_features, _) = timed(read_tsv, tsv, offsets, rows)
        assert np.array_equal(store_features, tsv_features.astype(np.float16).astype(np.float32))
        store_mb = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out)) / 2**20
        print(f"{num_boxes:>5} {num_images:>6} {os.path.getsize(tsv) / 2**20:>7.0f} {store_mb:>8.0f} "
              f"{import_rate:>12.0f} {args.reads / store_s:>11.0f} {args.reads / tsv_s:>9.0f} "
              f"{tsv_s / store_s:>8.1f}x")
        os.remove(tsv)


def bench_extraction(args, workdir):
    """Detector images/s on the CPU (random weights): the sample data's setting and bottom-up attention's."""
    print(f"{'backbone':>9} {'min/max size':>12} {'images':>6} {'images/s':>9} {'boxes/image':>11}")
    for backbone, min_size, max_size, images in (("resnet18", 128, 192, args.extract_images),
                                                 ("resnet101", 600, 1000, max(1, args.extract_images // 4))):
        r = benchmark_extraction(backbone=backbone, min_size=min_size, max_size=max_size, num_images=images,
                                 seed=args.seed)
        print(f"{backbone:>9} {f'{min_size}/{max_size}':>12} {images:>6} {r['images_per_s']:>9.2f} "
              f"{r['boxes_per_image']:>11.0f}")


SECTIONS = [("random access (float16 store vs bottom-up TSV)", bench_random_access),
            ("extraction on the CPU (torchvision Faster R-CNN, C4 head, random weights)", bench_extraction)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images-36", type=int, default=2000, help="images with 36 boxes (default: %(default)s)")
    parser.add_argument("--images-100", type=int, default=1000, help="images with 100 boxes (default: %(default)s)")
    parser.add_argument("--reads", type=int, default=2000, help="random reads per format (default: %(default)s)")
    parser.add_argument("--extract-images", type=int, default=8,
                        help="images timed for resnet18 extraction; resnet101 gets a quarter (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--workdir", help="where the synthetic files go (default: a temporary directory)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        for name, section in SECTIONS:
            print(f"== {name}")
            section(args, workdir)


if __name__ == "__main__":
    main()
