"""Retrieved images (XI): label overlap ranks on a hand-made store, the weighted similarities against their
definitions, mean-feature retrieval, invariance to chunks, shards and workers, and retrieve_images.py end
to end."""
import json
import os
import sys

import numpy as np
import pytest

from unimo_plugin.cli.retrieve_images import main as cli_main
from unimo_plugin.common.artifacts import InputError, read_manifest, write_manifest
from unimo_plugin.formats.caption_sets import read_caption_records
from unimo_plugin.formats.cmcl_candidates import read_cmcl_raw
from unimo_plugin.formats.region_store import RegionStore, RegionStoreWriter
from unimo_plugin.preprocess.cmcl.image_retrieval import (
    read_labels,
    read_mean_features,
    retrieve_image_items,
    similar_by_features,
    similar_by_labels,
)
from unimo_plugin.testing.commands import REPO_ROOT, run_cli

SCRIPT = os.path.join(REPO_ROOT, "data_scripts", "retrieve_images.py")
CLASSES, DIM = 6, 4
# Per image: (top class, confidence) of each region; class 0 is the background.
REGIONS = {
    "a": [(1, 0.9), (2, 0.8), (3, 0.7)],
    "b": [(3, 0.3), (2, 0.9), (1, 0.5), (1, 0.6)],  # a's labels; a second person
    "c": [(1, 0.9), (2, 0.4)],
    "d": [(4, 0.9), (5, 0.9)],
    "e": [(1, 0.3), (4, 0.8)],
    "f": [(0, 0.95), (2, 0.1)],  # background, and a label under the threshold
    "g": [],  # no regions
}
FEATURES = {"a": [1, 0, 0, 0], "b": [0.9, 0.3, 0, 0], "c": [0.5, 0.5, 0, 0], "d": [0, 0, 1, 0], "e": [0.7, 0, 0.7, 0],
            "f": [-1, 0, 0, 0.1]}


def write_store(path, with_classes=True):
    """The images of REGIONS: each region's class distribution puts its confidence on its top class and
    spreads the rest evenly, and its features are the image's FEATURES (scaled: a mean keeps the direction)."""
    with RegionStoreWriter(path, DIM, "float32", num_classes=CLASSES if with_classes else None) as writer:
        for image_id, regions in REGIONS.items():
            probs = np.zeros((len(regions), CLASSES), np.float32)
            for row, (top, confidence) in enumerate(regions):
                probs[row] = (1 - confidence) / (CLASSES - 1)
                probs[row, top] = confidence
            features = np.array([FEATURES.get(image_id, [0] * DIM)] * len(regions), np.float32).reshape(-1, DIM)
            features *= np.arange(1, len(regions) + 1, dtype=np.float32)[:, None]
            writer.add(image_id, 100, 100, np.tile([[0, 0, 10, 10]], (len(regions), 1)), features,
                       probs if with_classes else None)
    return RegionStore(path)


def histograms():
    """The confidence-weighted label histograms REGIONS define (threshold 0.2, background dropped)."""
    out = np.zeros((len(REGIONS), CLASSES))
    for i, regions in enumerate(REGIONS.values()):
        for top, confidence in regions:
            if top and confidence >= 0.2:
                out[i, top] += confidence
    return out


@pytest.fixture
def store(tmp_path):
    return write_store(str(tmp_path / "regions"))


def names(row):
    return [list(REGIONS)[j] for j in row if j >= 0]


def test_jaccard_ranks_label_overlap(store):
    labels = read_labels(store, np.arange(len(store)), conf_thresh=0.2)
    assert np.allclose(labels.toarray(), histograms(), atol=1e-6)
    indices, scores = similar_by_labels(labels, 4)
    assert names(indices[0]) == ["b", "c", "e"]  # a: same set, 2 of 3 labels, 1 of 4; d shares none
    assert np.allclose(scores[0], [1, 2 / 3, 1 / 4, 0])
    assert names(indices[3]) == ["e"] and np.isclose(scores[3, 0], 1 / 3)
    assert names(indices[5]) == [] and names(indices[6]) == []  # f and g have no labels
    assert all("f" not in names(row) and "g" not in names(row) for row in indices)
    assert all(i not in row for i, row in enumerate(indices))  # never the image itself
    strict = read_labels(store, np.arange(len(store)), conf_thresh=0.5)
    indices, scores = similar_by_labels(strict, 4)  # a {1,2,3}; b {1,2}; c {1}; e {4} only
    assert names(indices[0]) == ["b", "c"] and np.allclose(scores[0, :2], [2 / 3, 1 / 3])


@pytest.mark.parametrize("metric", ["cosine", "jaccard"])
def test_weighted_similarities_match_their_definition(store, metric):
    weights = histograms()
    if metric == "cosine":
        unit = weights / np.maximum(np.linalg.norm(weights, axis=1, keepdims=True), 1e-12)
        expected = unit @ unit.T
    else:
        minima = np.minimum(weights[:, None], weights[None]).sum(-1)
        maxima = np.maximum(weights[:, None], weights[None]).sum(-1)
        expected = np.divide(minima, maxima, out=np.zeros_like(minima), where=maxima > 0)
    labels = read_labels(store, np.arange(len(store)))
    indices, scores = similar_by_labels(labels, 6, similarity="weighted", weighted_metric=metric)
    for i, (row, row_scores) in enumerate(zip(indices, scores)):
        found = row[row >= 0]
        others = [j for j in range(len(REGIONS)) if j != i and expected[i, j] > 0]
        assert sorted(found) == sorted(others)
        assert np.allclose(row_scores[:len(found)], expected[i, found], atol=1e-5)
        assert np.all(np.diff(row_scores[:len(found)]) <= 0)


def test_mean_features(store):
    vectors = read_mean_features(store, np.arange(len(store)))
    assert np.allclose(np.linalg.norm(vectors[:6], axis=1), 1) and not vectors[6].any()
    indices, scores = similar_by_features(vectors, 3)
    assert names(indices[0])[0] == "b" and set(names(indices[0])[1:]) == {"c", "e"}
    assert np.allclose(scores[0], [0.9 / np.sqrt(0.9), np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)
    assert names(indices[6]) == [] and all(6 not in row for row in indices)
    assert all(i not in row for i, row in enumerate(indices))


@pytest.mark.slow  # worker processes
def test_chunks_workers_and_seed(store):
    labels = read_labels(store, np.arange(len(store)), workers=2)
    whole = similar_by_labels(labels, 3, similarity="weighted", weighted_metric="jaccard")
    for options in [dict(chunk_size=1), dict(max_products=1), dict(workers=2, chunk_size=2)]:
        got = similar_by_labels(labels, 3, similarity="weighted", weighted_metric="jaccard", **options)
        assert np.array_equal(got[0], whole[0]) and np.array_equal(got[1], whole[1]), options
    # Ties (c's labels are 2/3 of a's and of b's) follow the seed: same seed, same order; scores never move.
    runs = [similar_by_labels(labels, 3, seed=seed) for seed in (0, 0, 1, 2, 3)]
    assert np.array_equal(runs[0][0], runs[1][0])
    assert all(np.array_equal(run[1], runs[0][1]) for run in runs)
    assert any(not np.array_equal(run[0], runs[0][0]) for run in runs[2:])


def test_store_without_class_probabilities(tmp_path):
    plain = write_store(str(tmp_path / "plain"), with_classes=False)
    with pytest.raises(InputError, match=r"plain: has no class probabilities.*--by features"):
        read_labels(plain, np.arange(len(plain)))
    captions = [{"caption_id": str(i), "image_id": image, "text": "x"} for i, image in enumerate(REGIONS)]
    items, statistics = retrieve_image_items(plain, captions, 0, len(captions), 2, by="features")
    assert items[0][0]["image_id"] == "b" and statistics["images_without_regions"] == 1


def write_pairs(directory, store_path, split="train"):
    """A caption dataset: two captions per image, its manifest naming the store (as binarize_captions.py)."""
    os.makedirs(directory)
    with open(os.path.join(directory, f"{split}.captions.jsonl"), "w") as f:
        for image in REGIONS:
            for n in range(2):
                f.write(json.dumps({"caption_id": f"{image}{n}", "image_id": image, "text": "a thing"}) + "\n")
    write_manifest(str(directory), "unimo_captions", region_store=os.path.relpath(store_path, directory.parent))
    return str(directory)


@pytest.mark.slow
def test_cli_end_to_end(tmp_path, store, capsys):
    pairs = write_pairs(tmp_path / "pairs", store.path)
    proc = run_cli([sys.executable, SCRIPT, "--pairs", pairs, "--per-caption", "2", "--no-progress"])
    output = os.path.join(pairs, "train.cmcl_raw.images.labels.jsonl")
    items = read_cmcl_raw(output, read_caption_records(pairs, "train"), "image_id")
    assert items[0] == items[1] == [{"image_id": "b", "score": 1.0}, {"image_id": "c", "score": 0.666667}]
    assert items[10] == items[11] == []  # f
    assert "images_without_labels: 2" in proc.stdout and read_manifest(output)["content"] == "images/labels"

    common = ["--pairs", pairs, "--per-caption", "2", "--no-progress", "--similarity", "weighted",
              "--weighted-metric", "jaccard"]
    whole = str(tmp_path / "whole.jsonl")
    cli_main(common + ["--output", whole])
    sharded = str(tmp_path / "sharded.jsonl")
    for shard in range(3):  # 14 captions in shards of 5: an image's two captions fall in two shards
        cli_main(common + ["--output", sharded, "--num-shards", "3", "--shard-id", str(shard), "--workers", "2"])
    cli_main(common + ["--output", sharded, "--num-shards", "3", "--merge"])
    assert open(sharded).read() == open(whole).read()

    features = str(tmp_path / "features.jsonl")
    cli_main(["--pairs", pairs, "--by", "features", "--no-progress", "--output", features])
    assert "images_without_regions: 1" in capsys.readouterr().out


def test_cli_errors(tmp_path, capsys):
    plain = write_store(str(tmp_path / "plain"), with_classes=False)
    pairs = write_pairs(tmp_path / "pairs", plain.path)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--pairs", pairs, "--no-progress"])
    assert exit_info.value.code == 1
    assert "retrieve by region features instead (--by features)" in capsys.readouterr().err
    with open(os.path.join(pairs, "train.captions.jsonl"), "a") as f:
        f.write("{not json\n")
    with pytest.raises(SystemExit):
        cli_main(["--pairs", pairs, "--by", "features", "--no-progress"])
    assert f"{pairs}/train.captions.jsonl:15: not a caption record" in capsys.readouterr().err
    with open(os.path.join(pairs, "train.captions.jsonl"), "w") as f:
        f.write(json.dumps({"caption_id": "1", "image_id": "unknown", "text": "x"}) + "\n")
    with pytest.raises(SystemExit):
        cli_main(["--pairs", pairs, "--by", "features", "--no-progress"])
    assert "image id 'unknown' is not in region store" in capsys.readouterr().err
