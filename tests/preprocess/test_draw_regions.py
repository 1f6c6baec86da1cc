"""unimo-draw-regions (data_scripts/draw_regions.py): labels by confidence and a PNG of the image's size."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unimo_plugin.formats.region_store import RegionStore, RegionStoreWriter
from unimo_plugin.preprocess.regions.region_drawing import box_labels
from unimo_plugin.testing.commands import REPO_ROOT

REPO = Path(REPO_ROOT)
SCRIPT = REPO / "data_scripts" / "draw_regions.py"
DIM = 8


def write_store(path, cls_probs):
    boxes = np.array([[10, 10, 60, 40], [70, 20, 150, 90], [5, 50, 40, 95]], np.float32)
    with RegionStoreWriter(path, DIM, num_classes=None if cls_probs is None else cls_probs.shape[1]) as writer:
        writer.add("img1", 160, 100, boxes, np.ones((3, DIM)), cls_probs)
    return RegionStore(path)


# Class 0 is the background, as in the bottom-up-attention detector.
PROBS = np.array([[0.1, 0.7, 0.1, 0.1], [0.9, 0.02, 0.03, 0.05], [0.05, 0.05, 0.1, 0.8]], np.float32)


def test_box_labels(tmp_path):
    regions = write_store(tmp_path / "s", PROBS)[0]
    labels = ["__background__", "dog", "cat", "kite"]
    rows, texts = box_labels(regions, labels, top=2)
    assert list(rows) == [2, 0] and texts == ["kite 0.80", "dog 0.70"]
    # Without names the class index is shown, background included.
    assert box_labels(regions, None, top=1)[1] == ["0 0.90"]
    plain = write_store(tmp_path / "p", None)[0]
    rows, texts = box_labels(plain, None, top=None)
    assert list(rows) == [0, 1, 2] and texts == ["#0", "#1", "#2"]


@pytest.mark.slow
def test_cli_writes_png_of_image_size(tmp_path):
    write_store(tmp_path / "store", PROBS)
    Image.new("RGB", (320, 200), "gray").save(tmp_path / "img1.jpg")  # twice the stored size
    (tmp_path / "labels.txt").write_text("dog\ncat\nkite\n")  # background left out
    out = tmp_path / "out.png"
    proc = subprocess.run([sys.executable, str(SCRIPT), tmp_path / "store", "img1", tmp_path / "img1.jpg",
                           "-o", out, "--labels", tmp_path / "labels.txt", "--top", "2"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "2 of 3 boxes: kite 0.80, dog 0.70" in proc.stdout and "boxes rescaled" in proc.stdout
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (320, 200)
        pixels = np.asarray(image.convert("RGB"))
    # The kite box (5, 50, 40, 95) scaled x2 has its left edge at x=10, y in [100, 190].
    assert (pixels[150, 10] != pixels[150, 100]).any()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img1.jpg", "labels.txt", "out.png", "store",
                                                           "store.manifest.json"]
