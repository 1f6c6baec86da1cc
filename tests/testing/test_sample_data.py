"""The bundled sample data (unimo_plugin/testing/sample_data.py), built small through its command: the layout the
pretraining task reads, held-out splits, resume, determinism, and region features that carry what the
captions state (a linear probe on held-out regions)."""
import hashlib
import json
import os
import re
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from unimo_plugin.cli.make_sample_data import main
from unimo_plugin.common.artifacts import is_complete, manifest_path, read_manifest
from unimo_plugin.formats.region_store import RegionStore, normalized_boxes, region_store_of
from unimo_plugin.testing.commands import REPO_ROOT, run_cli
from unimo_plugin.testing.sample_data import write_raw
from unimo_plugin.testing.sample_scenes import SceneObject, position_phrase

SCRIPT = os.path.join(REPO_ROOT, "data_scripts", "make_sample_data.py")
SCENES, IMAGE_ONLY, TEXT_DOCS, PHOTOS = (240, 30, 30), (40, 10), (300, 30), 2
SIZES = ["--scenes", *SCENES, "--image-only", *IMAGE_ONLY, "--text-docs", *TEXT_DOCS, "--photos", PHOTOS]
pytestmark = pytest.mark.slow  # end-to-end: the sample build runs every data script as a subprocess


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "data"
    run_cli([sys.executable, SCRIPT, "--out", out, *map(str, SIZES), "--jobs", "2", "--no-progress"])
    return out


def karpathy(sample):
    with open(sample / "raw" / "dataset_sample.json") as f:
        return json.load(f)["images"]


def jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_layout_and_counts_are_what_the_pretraining_task_reads(sample):
    for name in ("dict.txt", "encoder.json", "vocab.bpe", "raw/dataset_sample.json", "raw/boxes.json",
                 "raw/text/train.txt", "raw/text/valid.txt", "raw/captions/train.tsv", "raw/photo_captions.tsv"):
        assert (sample / name).is_file(), name
    assert is_complete(sample)
    manifest = read_manifest(sample)
    counts = manifest["counts"]
    assert manifest["seed"] == 0 and manifest["options"]["scenes"] == list(SCENES)
    assert [counts[f"scenes_{s}"] for s in ("train", "valid", "test")] == list(SCENES)

    for split, docs in zip(("train", "valid"), TEXT_DOCS):
        text = read_manifest(str(sample / "text" / f"{split}.bin"))
        assert text["sequences"] == counts[f"text_sentences_{split}"] + docs - 1  # blank lines between documents
        assert text["replaced_by_unk"] == 0 and (sample / "text" / f"{split}.idx").is_file()

    for split, count in zip(("train", "valid"), IMAGE_ONLY):
        store = RegionStore(sample / "images" / split)
        assert len(store) == count and store.feature_dim == 512 and store.feature_dtype == "float16"

    pair_store = RegionStore(sample / "pair_regions")
    assert len(pair_store) == sum(SCENES) and pair_store.num_classes is not None
    assert pair_store.manifest["options"]["random_init"] and pair_store.manifest["options"]["backbone"] == "resnet18"
    with open(sample / "raw" / "boxes.json") as f:
        boxes = json.load(f)
    for image_id in pair_store.ids[::37]:  # the stored boxes are the ground truth, in pixels
        np.testing.assert_allclose(pair_store[pair_store.row_of(image_id)].boxes, boxes[image_id], rtol=1e-6)

    pairs = read_manifest(sample / "pairs")
    assert region_store_of(sample / "pairs") == str(sample / "pair_regions") and pairs["skipped_missing"] == 0
    for split, count in zip(("train", "valid", "test"), SCENES):
        assert pairs["splits"][split]["captions"] == counts[f"captions_{split}"]
        assert pairs["splits"][split]["images"] == count and pairs["splits"][split]["replaced_by_unk"] == 0
        rows = np.load(sample / "pairs" / f"{split}.image_rows.npy")
        records = jsonl(sample / "pairs" / f"{split}.captions.jsonl")
        assert [pair_store.ids[row] for row in rows] == [r["image_id"] for r in records]
        per_image = np.bincount(np.unique(rows, return_inverse=True)[1])
        assert per_image.min() >= 3 and per_image.max() <= 5

    photos = RegionStore(sample / "photos" / "regions")
    assert len(photos) == PHOTOS and photos.num_boxes.min() >= 10  # detector proposals, not given boxes
    assert read_manifest(sample / "photos" / "captions")["splits"]["test"]["captions"] == 3 * PHOTOS


def test_valid_and_test_images_never_appear_in_train(sample):
    digests = {}
    for split in ("train", "valid", "test"):
        folder = sample / "raw" / "scenes" / split
        digests[split] = {hashlib.sha1((folder / name).read_bytes()).hexdigest() for name in os.listdir(folder)}
    image_only = {hashlib.sha1(p.read_bytes()).hexdigest() for p in (sample / "raw" / "images").rglob("*.png")}
    assert not (digests["train"] & (digests["valid"] | digests["test"])) and not digests["valid"] & digests["test"]
    assert not image_only & (digests["train"] | digests["valid"] | digests["test"])
    split_of = {image["image_id"]: image["split"] for image in karpathy(sample)}
    for split, karpathy_split in (("train", "train"), ("valid", "val"), ("test", "test")):
        image_ids = {r["image_id"] for r in jsonl(sample / "pairs" / f"{split}.captions.jsonl")}
        assert {split_of[i] for i in image_ids} == {karpathy_split}


def probe_accuracy(train, held_out, label):
    """Held-out accuracy of a logistic-regression probe from inputs (X, labels) pairs."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return probe.fit(train[0], train[1][label]).score(held_out[0], held_out[1][label])


def test_region_features_carry_colour_and_shape_and_boxes_the_position(sample):
    """Captions state colour, shape, size and position: a linear probe must read them from the regions."""
    store, data = RegionStore(sample / "pair_regions"), {True: [], False: []}
    for image in karpathy(sample):
        regions = store[store.row_of(image["image_id"])]
        boxes = normalized_boxes(regions.boxes, regions.width, regions.height)
        for obj, feature, box in zip(image["objects"], np.asarray(regions.features, np.float32), boxes):
            obj = SceneObject(**obj)
            data[image["split"] == "train"].append(
                (feature, box, obj.colour, obj.shape, obj.size, position_phrase(obj, regions.width)))

    def table(rows):
        columns = list(zip(*rows))
        labels = {name: np.array(values) for name, values in zip(("colour", "shape", "size", "position"), columns[2:])}
        return np.stack(columns[0]), np.stack(columns[1]), labels

    (train_f, train_b, train_y), (held_f, held_b, held_y) = table(data[True]), table(data[False])
    accuracy = {f"{label} from {kind}": probe_accuracy((train_x, train_y), (held_x, held_y), label)
                for kind, train_x, held_x in (("features", train_f, held_f), ("boxes", train_b, held_b))
                for label in ("colour", "shape", "size", "position")}
    print(f"linear probe on {len(held_f)} held-out regions (trained on {len(train_f)}): "
          + ", ".join(f"{k} {v:.3f}" for k, v in accuracy.items()))
    # Chance: colour 1/6, shape 1/4, size 1/2, position 1/9.
    assert accuracy["colour from features"] >= 0.9
    assert accuracy["shape from features"] >= 0.7
    assert accuracy["shape from features"] >= accuracy["shape from boxes"] + 0.3  # the shape is in the pixels
    assert accuracy["size from boxes"] >= 0.9 and accuracy["position from boxes"] >= 0.8


def test_same_seed_gives_the_same_scenes_captions_and_boxes(sample, tmp_path):
    """Raw data depends on the seed only: not on worker count, and not on the other splits' sizes."""
    opts = dict(read_manifest(sample / "raw")["options"], scenes=[20, SCENES[1], SCENES[2]], image_only=[3, 2],
                text_docs=[10, TEXT_DOCS[1]], photos=1)
    write_raw(str(tmp_path / "one"), opts, workers=1, progress=False)
    write_raw(str(tmp_path / "two"), opts, workers=2, progress=False)
    write_raw(str(tmp_path / "seed1"), dict(opts, seed=1), workers=1, progress=False)
    for name in ("dataset_sample.json", "boxes.json", "text/train.txt", "captions/valid.tsv",
                 "scenes/test/scene_test_000003.png", "photos/astronaut.jpg"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    for name in ("captions/valid.tsv", "captions/test.tsv", "text/valid.txt"):
        assert (tmp_path / "one" / name).read_bytes() == (sample / "raw" / name).read_bytes(), name
        assert (tmp_path / "one" / name).read_bytes() != (tmp_path / "seed1" / name).read_bytes(), name


def test_rerun_skips_finished_steps_and_redoes_an_interrupted_one(sample, capfd):
    """Run last: it rebuilds pairs/ (identically) in the shared sample."""
    files = {p: p.stat().st_mtime_ns for p in sample.rglob("*")
             if p.is_file() and p.relative_to(sample).parts[0].split(".")[0] != "pairs"}
    before = (sample / "pairs" / "train.bin").read_bytes()
    os.remove(manifest_path(sample / "pairs"))  # as if killed before its manifest was written
    main(["--out", str(sample), *map(str, SIZES), "--no-progress"])
    printed = capfd.readouterr().out
    for step in ("raw", "bpe", "text/train", "text/valid", "images/train", "pair_regions", "photos/captions"):
        assert f"[{step}] complete, skipped" in printed
    assert "[pairs] $" in printed and is_complete(sample / "pairs")
    assert (sample / "pairs" / "train.bin").read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in files} == files  # nothing else was touched

    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(sample), *map(str, SIZES), "--seed", "1"])
    assert exit_info.value.code == 1 and re.search("built with other options.*--seed 0 -> 1", capfd.readouterr().err)
