"""Region-feature extraction: the torchvision detector, its selection rule, and data_scripts/extract_regions.py.

A small random detector keeps this fast: resnet18, few classes and proposals, 128-192 px images.
"""
import json
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.ops import nms

from unimo_plugin.cli.extract_regions import main as extract_main
from unimo_plugin.common.artifacts import InputError, read_manifest
from unimo_plugin.formats.region_store import RegionStore
from unimo_plugin.models.region_detector import RegionDetector, build_detector, max_confidence_after_nms, select_regions
from unimo_plugin.preprocess.regions.region_extraction import (
    ImageFiles,
    boxes_of_images,
    extract_regions,
    read_boxes_file,
)
from unimo_plugin.testing.commands import REPO_ROOT, run_cli

SCRIPT = os.path.join(REPO_ROOT, "data_scripts", "extract_regions.py")
CONFIG = dict(backbone="resnet18", num_classes=21, min_size=128, max_size=192, proposals=40, min_boxes=5, max_boxes=12)
CLI_CONFIG = ["--backbone", "resnet18", "--num-classes", "21", "--min-size", "128", "--max-size", "192",
              "--proposals", "40", "--min-boxes", "5", "--max-boxes", "12", "--no-progress"]
SIZES = [(100, 150), (160, 120), (128, 128), (90, 200), (140, 100)]  # (H, W)


def random_image(height, width, seed):
    return torch.rand(3, height, width, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def detector():
    return build_detector(random_init=True, seed=0, **CONFIG)


@pytest.fixture(scope="module")
def weights(detector, tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "detector.pt"
    torch.save(detector.state_dict(), path)
    return str(path)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    for i, (h, w) in enumerate(SIZES):
        pixels = (random_image(h, w, i) * 255).byte().permute(1, 2, 0).numpy()
        Image.fromarray(pixels).save(folder / f"img{i}.{'png' if i % 2 else 'jpg'}", quality=95)
    return folder


def run_main(*args):
    """The CLI's ``main`` in this process (cheaper than a subprocess): its exit status, or None."""
    try:
        extract_main([str(a) for a in args])
    except SystemExit as e:
        return e.code


def failure(capsys, *args):
    """The one-line error of a CLI run that must fail with bad input (exit status 1)."""
    capsys.readouterr()
    assert run_main(*args) == 1
    return capsys.readouterr().err


def test_backbones_give_their_feature_dims():
    for backbone, trunk_channels, dim in [("resnet18", 256, 512), ("resnet50", 1024, 2048)]:
        detector = build_detector(random_init=True, backbone=backbone, num_classes=11, min_size=64, max_size=96)
        assert (detector.backbone.out_channels, detector.feature_dim) == (trunk_channels, dim)
        boxes = torch.tensor([[0.0, 0.0, 40.0, 30.0], [10.0, 5.0, 60.0, 50.0]])
        (region,) = detector.extract([random_image(64, 80, 0)], [boxes])
        assert region["features"].shape == (2, dim) and region["cls_probs"].shape == (2, 11)
    with pytest.raises(ValueError, match="unknown backbone"):
        RegionDetector(backbone="vgg16")


def test_one_pass_nms_equals_torchvision_nms_per_class():
    gen = torch.Generator().manual_seed(0)
    corners = torch.rand(60, 2, generator=gen) * 100
    boxes = torch.cat([corners, corners + torch.rand(60, 2, generator=gen) * 50 + 1], dim=1)
    scores = torch.rand(60, 7, generator=gen)
    expected = torch.zeros(60)
    for c in range(7):
        keep = nms(boxes, scores[:, c], 0.3)
        expected[keep] = torch.maximum(expected[keep], scores[keep, c])
    assert torch.equal(max_confidence_after_nms(boxes, scores, 0.3), expected)


def test_selection_from_confident_pairs_equals_full_computation():
    gen = torch.Generator().manual_seed(0)
    corners = torch.rand(200, 2, generator=gen) * 300
    boxes = torch.cat([corners, corners + torch.rand(200, 2, generator=gen) * 100 + 1], dim=1)
    probs = (torch.randn(200, 51, generator=gen) * 3).softmax(-1)  # peaked: 190 boxes reach 0.2
    confidence = max_confidence_after_nms(boxes, probs[:, 1:], 0.3)
    order, passing = confidence.argsort(descending=True, stable=True), int((confidence >= 0.2).sum())
    for min_boxes, max_boxes in [(10, 100), (10, 195), (195, 198)]:  # cut, all passing, topped up
        expected = order[:min(max(passing, min_boxes), max_boxes)]
        assert torch.equal(select_regions(boxes, probs, 0.3, 0.2, min_boxes, max_boxes), expected)


def test_selection_keeps_confident_regions_within_min_and_max():
    boxes = torch.tensor([[i * 20.0, 0.0, i * 20.0 + 10, 10.0] for i in range(8)])  # disjoint: NMS keeps all
    confidence = torch.tensor([0.9, 0.1, 0.5, 0.3, 0.05, 0.7, 0.25, 0.15])
    probs = torch.stack([1 - confidence, confidence], dim=1)  # background + one class
    assert select_regions(boxes, probs, 0.3, 0.2, 2, 6).tolist() == [0, 5, 2, 3, 6]  # all >= 0.2, best first
    assert select_regions(boxes, probs, 0.3, 0.6, 3, 6).tolist() == [0, 5, 2]  # topped up to min_boxes
    assert select_regions(boxes, probs, 0.3, 0.2, 1, 2).tolist() == [0, 5]  # cut to max_boxes


def test_detected_regions_in_original_pixels(detector):
    images = [random_image(h, w, i) for i, (h, w) in enumerate(SIZES[:3])]
    regions = detector.extract(images)
    for image, region in zip(images, regions):
        n = len(region["boxes"])
        assert CONFIG["min_boxes"] <= n <= CONFIG["max_boxes"]
        assert region["features"].shape == (n, 512) and region["cls_probs"].shape == (n, 21)
        assert torch.allclose(region["cls_probs"].sum(1), torch.ones(n))
        height, width = image.shape[-2:]
        boxes = region["boxes"]
        assert (boxes >= 0).all() and (boxes[:, 2] <= width + 1e-3).all() and (boxes[:, 3] <= height + 1e-3).all()
        assert (boxes[:, 2:] > boxes[:, :2]).all()
    # The boxes are the pooled proposals: pooling them again as given boxes gives the same features.
    again = detector.extract(images, [region["boxes"] for region in regions])
    for region, pooled in zip(regions, again):
        assert torch.allclose(region["features"], pooled["features"], rtol=1e-4, atol=1e-4)
        assert torch.allclose(region["cls_probs"], pooled["cls_probs"], atol=1e-5)


def test_given_boxes_are_kept_exactly(detector):
    boxes = torch.tensor([[0.0, 0.0, 150.0, 100.0], [10.5, 20.25, 60.0, 70.0], [100.0, 50.0, 101.0, 51.0]])
    (region,) = detector.extract([random_image(100, 150, 0)], [boxes])
    assert torch.equal(region["boxes"], boxes)
    assert region["features"].shape == (3, 512) and region["cls_probs"].shape == (3, 21)
    assert not torch.equal(region["features"][0], region["features"][1])


def test_feature_depends_on_the_pixels_inside_its_box():
    detector = build_detector(random_init=True, **dict(CONFIG, min_size=128, max_size=512))
    image = random_image(128, 512, 0)
    box_a, box_b = [8.0, 8.0, 72.0, 120.0], [440.0, 8.0, 504.0, 120.0]
    changed = image.clone()
    changed[:, 20:100, 20:60] = 1 - changed[:, 20:100, 20:60]  # inside A only
    before, after = (detector.extract([im], [torch.tensor([box_a, box_b])])[0]["features"] for im in (image, changed))
    change = (after - before).norm(dim=1) / before.norm(dim=1)
    assert change[0] > 0.01 and change[1] < 1e-6  # B lies beyond the receptive field of A's pixels


def test_weights_are_required_and_loaded_strictly(detector, weights, tmp_path):
    with pytest.raises(ValueError, match="no detector weights"):
        build_detector(**CONFIG)
    image = [random_image(100, 150, 1)]
    reloaded = build_detector(weights, **CONFIG)
    assert torch.equal(reloaded.extract(image)[0]["features"], detector.extract(image)[0]["features"])
    with pytest.raises(InputError, match=r"detector\.pt: weights do not fit this detector \(resnet18, 31 classes\)"
                                         r".*shape mismatch keys \(4\): roi_heads\.box_predictor\.bbox_pred\.bias"):
        build_detector(weights, **dict(CONFIG, num_classes=31))
    with pytest.raises(InputError, match=r"\(resnet50, 21 classes\): missing keys \(\d+\): backbone.*; shape mismatch"):
        build_detector(weights, **dict(CONFIG, backbone="resnet50"))
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(InputError, match="junk.pt: cannot read detector weights"):
        build_detector(str(tmp_path / "junk.pt"), **CONFIG)


def test_boxes_files(tmp_path):
    (tmp_path / "b.json").write_text(json.dumps({"img0.jpg": [[0, 0, 10, 10]], "img1": [[1, 2, 3, 4], [0, 0, 5, 5]]}))
    boxes = read_boxes_file(tmp_path / "b.json")
    assert sorted(boxes) == ["img0", "img1"] and boxes["img1"].shape == (2, 4) and boxes["img1"].dtype == np.float32
    (tmp_path / "b.tsv").write_text("img0.jpg\t0\t0\t10\t10\nimg1\t1\t2\t3\t4\n\nimg1\t0\t0\t5\t5\n")
    assert all(np.array_equal(boxes[k], v) for k, v in read_boxes_file(tmp_path / "b.tsv").items())
    (tmp_path / "bad.tsv").write_text("img0\t0\t0\t10\t10\nimg1\t50\t0\t10\t10\n")
    with pytest.raises(InputError, match=r"bad\.tsv:2: image 'img1'.*x2 < x1"):
        read_boxes_file(tmp_path / "bad.tsv")
    (tmp_path / "bad.json").write_text(json.dumps({"img0": [[0, 0, "x", 1]]}))
    with pytest.raises(InputError, match=r"bad\.json: image 'img0' box 0: .* not four numbers"):
        read_boxes_file(tmp_path / "bad.json")


@pytest.mark.slow
def test_cli_end_to_end_with_weights(detector, weights, image_dir, tmp_path):
    out = tmp_path / "regions"
    proc = run_cli([sys.executable, SCRIPT, image_dir, "-o", out, "--weights", weights, "--batch-size", "2",
                    "--dtype", "float32", *CLI_CONFIG])
    assert "5 images" in proc.stdout
    store = RegionStore(out)
    assert store.ids == [f"img{i}" for i in range(5)] and store.feature_dim == 512 and store.num_classes == 21
    assert read_manifest(out)["options"]["weights"] == weights
    for row, (h, w) in enumerate(SIZES):
        regions = store[row]
        assert (regions.width, regions.height) == (w, h)
        assert CONFIG["min_boxes"] <= len(regions.boxes) <= CONFIG["max_boxes"]
        assert (regions.boxes[:, 2] <= w + 1e-3).all() and (regions.boxes[:, 3] <= h + 1e-3).all()
    # The same weights in this process give the same regions (image 4 is alone in its batch: no padding).
    _, _, pixels = ImageFiles([("img4", image_dir / "img4.jpg")])[0]
    (expected,) = detector.extract([pixels])
    assert np.allclose(store[4].features, expected["features"].numpy(), rtol=1e-4, atol=1e-4)
    assert np.allclose(store[4].boxes, expected["boxes"].numpy(), atol=1e-3)


@pytest.mark.slow
def test_sharded_resumed_and_merged_equals_unsharded(image_dir, tmp_path):
    common = [image_dir, "--random-init", "--workers", "0", *CLI_CONFIG]
    assert run_main(*common, "-o", tmp_path / "whole") is None
    assert run_main(*common, "-o", tmp_path / "parts", "--num-shards", "2", "--shard-id", "0") is None
    shard0 = tmp_path / "parts.shard0-of-2"
    stamp = os.stat(shard0 / "features.npy").st_mtime_ns
    # A subprocess, the way a user resumes: shard 0 is complete and skipped, shard 1 runs, then the merge.
    proc = run_cli([sys.executable, SCRIPT, *common, "-o", tmp_path / "parts", "--num-shards", "2", "--merge"])
    assert "parts.shard0-of-2: already complete, skipped" in proc.stdout
    assert "merged 2 shards: 5 images" in proc.stdout
    assert os.stat(shard0 / "features.npy").st_mtime_ns == stamp
    whole, merged = RegionStore(tmp_path / "whole"), RegionStore(tmp_path / "parts")
    assert merged.ids == whole.ids
    assert merged.manifest["run"]["stats"]["images"] == 5 and merged.manifest["run"]["options"]["random_init"]
    for row in range(len(whole)):
        for field in ("boxes", "features", "cls_probs"):
            assert np.array_equal(getattr(merged[row], field), getattr(whole[row], field)), (row, field)


def test_cli_reports_bad_images_and_missing_weights(image_dir, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("img0.jpg", "img1.png"):
        (images / name).write_bytes((image_dir / name).read_bytes())
    (images / "broken.png").write_bytes(b"\x89PNG not really")
    assert run_main(images, "-o", tmp_path / "out", *CLI_CONFIG) == 2  # argparse: no --weights and no --random-init
    assert run_main(images, "-o", tmp_path / "out", "--random-init", "--workers", "0", *CLI_CONFIG) == 1
    assert "broken.png: cannot read image" in capsys.readouterr().err and not (tmp_path / "out").exists()
    results = extract_regions(images, tmp_path / "out", CONFIG, random_init=True, workers=0, skip_bad=True,
                              progress=False)
    assert (results[0].stats["images"], results[0].stats["bad"]) == (2, 1)
    assert "broken.png" in results[0].stats["bad_examples"][0]
    assert RegionStore(tmp_path / "out").ids == ["img0", "img1"]


def test_given_boxes_through_the_library(image_dir, tmp_path):
    boxes = {"img0.jpg": [[0, 0, 150, 100], [20, 10, 80, 90]], "img1": [[5, 5, 100, 150]]}
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    (tmp_path / "list.txt").write_text("img1.png\nimg0.jpg\n")
    extract_regions(image_dir, tmp_path / "gt", CONFIG, random_init=True, image_list=tmp_path / "list.txt",
                    boxes_file=tmp_path / "boxes.json", workers=0, dtype="float32", progress=False)
    store = RegionStore(tmp_path / "gt")
    assert store.ids == ["img1", "img0"]
    assert np.array_equal(store[1].boxes, np.array(boxes["img0.jpg"], np.float32))
    assert store[0].features.shape == (1, 512) and store[1].cls_probs.shape == (2, 21)
    (tmp_path / "few.json").write_text(json.dumps({"img1": [[0, 0, 5, 5]]}))
    with pytest.raises(InputError, match=r"few\.json: no boxes for 1 of 2 image\(s\): .*img0\.jpg"):
        extract_regions(image_dir, tmp_path / "gt2", CONFIG, random_init=True, image_list=tmp_path / "list.txt",
                        boxes_file=tmp_path / "few.json", workers=0, progress=False)


def test_boxes_keyed_by_the_caption_files_ids(image_dir, tmp_path, capsys):
    """COCO images named COCO_val2014_<12-digit id>.jpg, boxes keyed by the COCO id (Karpathy's cocoid) in
    {"boxes": [...], ...} records: the script pools them; a file naming no image says how to name them."""
    images = tmp_path / "val2014"
    images.mkdir()
    for i, coco_id in enumerate((42, 73)):
        (images / f"COCO_val2014_{coco_id:012d}.jpg").write_bytes((image_dir / f"img{2 * i}.jpg").read_bytes())
    boxes = {"42": {"boxes": [[0, 0, 100, 90], [10, 20, 50, 60]], "classes": ["cat", "mat"]},
             "000000000073": {"boxes": [[5, 5, 40, 40]]}, "999": {"boxes": [[0, 0, 1, 1]]}}  # 999: no such image
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    out = tmp_path / "store"
    assert run_main(images, "-o", out, "--boxes", tmp_path / "boxes.json", "--random-init", "--workers", "0",
                    "--dtype", "float32", *CLI_CONFIG) is None
    store = RegionStore(out)
    assert store.ids == ["COCO_val2014_000000000042", "COCO_val2014_000000000073"]
    assert np.array_equal(store[0].boxes, np.array(boxes["42"]["boxes"], np.float32))
    assert np.array_equal(store[1].boxes, np.array(boxes["000000000073"]["boxes"], np.float32))

    (tmp_path / "other.json").write_text(json.dumps({"cat.jpg": [[0, 0, 5, 5]]}))
    message = failure(capsys, images, "-o", tmp_path / "other", "--boxes", tmp_path / "other.json", "--random-init",
                      *CLI_CONFIG)
    assert "other.json: no boxes for 2 of 2 image(s)" in message
    assert "by its file name, its id (the file stem, e.g. 'COCO_val2014_000000000042') or the number in its file " \
           "name; it names 'cat'" in message
    (tmp_path / "records.json").write_text(json.dumps({"42": {"bbox": [0, 0, 5, 5]}}))
    message = failure(capsys, images, "-o", tmp_path / "other", "--boxes", tmp_path / "records.json", "--random-init",
                      *CLI_CONFIG)
    assert "records.json: image '42': a record without \"boxes\" (it has 'bbox')" in message
    assert 'to [[x1, y1, x2, y2], ...] or to {"boxes": [[x1, y1, x2, y2], ...], ...}' in message
    (tmp_path / "list.json").write_text(json.dumps([{"image_id": 42, "boxes": [[0, 0, 5, 5]]}]))
    message = failure(capsys, images, "-o", tmp_path / "other", "--boxes", tmp_path / "list.json", "--random-init",
                      *CLI_CONFIG)
    assert "list.json: expected a JSON object mapping each image" in message and "found a JSON list" in message
    assert not (tmp_path / "other").exists()


def test_a_number_in_two_file_names_is_ambiguous(tmp_path):
    images = [("COCO_train2014_000000000009", "a/COCO_train2014_000000000009.jpg"),
              ("COCO_val2014_000000000009", "b/COCO_val2014_000000000009.jpg")]
    boxes = {"9": np.zeros((1, 4), np.float32)}
    with pytest.raises(InputError, match="image '9': the number 9 is in the file names of COCO_train2014_000000000009, "
                                         "COCO_val2014_000000000009: name the image by its file name instead"):
        boxes_of_images(boxes, images, "b.json")
    exact = dict(boxes, COCO_val2014_000000000009=np.ones((1, 4), np.float32))
    assert boxes_of_images(exact, images[1:], "b.json")["COCO_val2014_000000000009"][0, 0] == 1
