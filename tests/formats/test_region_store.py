"""The region store: writer/reader round trip, random access, atomicity, merging, subsets, identity and box
inputs."""
import hashlib
import json
import os
import pickle
import sys

import numpy as np
import pytest

from unimo_plugin.cli.subset_regions import main
from unimo_plugin.common.artifacts import InputError, manifest_path
from unimo_plugin.formats.region_store import (
    RegionStore,
    RegionStoreWriter,
    merge_region_stores,
    normalized_boxes,
    subset_region_store,
)
from unimo_plugin.testing.commands import REPO_ROOT, run_cli

SUBSET_SCRIPT = os.path.join(REPO_ROOT, "data_scripts", "subset_regions.py")  # the documented command

DIM, CLASSES = 16, 5


def make_images(n, seed=0, prefix="img", with_cls=True):
    """Random images with 0..6 boxes; features span float32 precision and range."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(n):
        k = int(rng.integers(0, 7))
        images.append(dict(
            image_id=f"{prefix}{i}", width=int(rng.integers(50, 900)), height=int(rng.integers(50, 900)),
            boxes=(rng.random((k, 4)) * 500).astype(np.float32),
            features=(rng.standard_normal((k, DIM)) * 100).astype(np.float32),
            cls_probs=rng.dirichlet(np.ones(CLASSES), size=k).astype(np.float32) if with_cls else None,
        ))
    return images


def write_store(path, images, dtype="float32", **kwargs):
    num_classes = CLASSES if images and images[0]["cls_probs"] is not None else None
    with RegionStoreWriter(path, DIM, dtype, num_classes=num_classes, **kwargs) as writer:
        for image in images:
            writer.add(**image)
    return RegionStore(path)


def assert_same(regions, image, dtype):
    assert regions.image_id == image["image_id"]
    assert (regions.width, regions.height) == (image["width"], image["height"])
    assert regions.boxes.dtype == np.float32
    np.testing.assert_array_equal(regions.boxes, image["boxes"])
    assert regions.features.dtype == dtype
    np.testing.assert_array_equal(regions.features, image["features"].astype(dtype))
    if image["cls_probs"] is None:
        assert regions.cls_probs is None
    else:
        np.testing.assert_array_equal(regions.cls_probs, image["cls_probs"].astype(dtype))


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("with_cls", [True, False])
def test_round_trip(tmp_path, dtype, with_cls):
    images = make_images(40, with_cls=with_cls)
    store = write_store(tmp_path / "store", images, dtype, source=["a.tsv"], options={"x": 1})
    assert len(store) == 40
    assert store.ids == [im["image_id"] for im in images]
    assert (store.feature_dim, store.feature_dtype) == (DIM, dtype)
    assert store.num_classes == (CLASSES if with_cls else None)
    np.testing.assert_array_equal(store.num_boxes, [len(im["boxes"]) for im in images])
    for row, image in enumerate(images):
        assert_same(store[row], image, dtype)
    manifest = store.manifest
    assert manifest["kind"] == "region_store" and manifest["count"] == 40
    assert manifest["total_boxes"] == int(store.num_boxes.sum())
    assert manifest["source"] == ["a.tsv"] and manifest["options"] == {"x": 1}
    # The arrays are plain .npy files any numpy can read.
    assert np.load(tmp_path / "store" / "features.npy").shape == (manifest["total_boxes"], DIM)


def test_random_access_is_memory_mapped(tmp_path):
    images = make_images(60, seed=1)
    store = write_store(tmp_path / "store", images)
    rng = np.random.default_rng(0)
    for row in rng.permutation(len(images)):
        image = images[row]
        assert store.row_of(image["image_id"]) == row
        regions = store[store.row_of(image["image_id"])]
        assert isinstance(regions.features, np.memmap) or not len(regions.features)
        assert_same(regions, image, "float32")
    assert_same(store[-1], images[-1], "float32")
    with pytest.raises(IndexError, match="out of range"):
        store[60]
    with pytest.raises(KeyError, match=f"'nope'.*{tmp_path / 'store'}"):
        store.row_of("nope")
    # Worker processes get a re-opened store, not a copy of the arrays.
    clone = pickle.loads(pickle.dumps(store))
    assert len(pickle.dumps(store)) < 1000
    assert_same(clone[7], images[7], "float32")


def test_empty_store(tmp_path):
    store = write_store(tmp_path / "empty", [])
    assert len(store) == 0 and store.ids == [] and store.num_boxes.shape == (0,)


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "store"
    with pytest.raises(RuntimeError):
        with RegionStoreWriter(path, DIM) as writer:
            writer.add(**make_images(1, with_cls=False)[0])
            raise RuntimeError("crash")
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError, match=f"{path}: not a complete region store"):
        RegionStore(path)


def test_failed_overwrite_keeps_old_store(tmp_path):
    images = make_images(5)
    write_store(tmp_path / "store", images)
    with pytest.raises(RuntimeError):
        with RegionStoreWriter(tmp_path / "store", DIM, num_classes=CLASSES) as writer:
            writer.add(**images[0])
            raise RuntimeError("crash")
    assert sorted(os.listdir(tmp_path)) == ["store", "store.manifest.json"]
    assert_same(RegionStore(tmp_path / "store")[4], images[4], "float32")


def test_add_validates_before_writing(tmp_path):
    rng = np.random.default_rng(0)
    good = [dict(image_id=f"img{i}", width=64, height=48, boxes=rng.random((2, 4), np.float32) * 40,
                 features=rng.random((2, DIM), np.float32), cls_probs=rng.random((2, CLASSES), np.float32))
            for i in range(2)]
    bad_cases = [
        (dict(good[0]), "duplicate image id 'img0'"),
        (dict(good[1], features=np.zeros((2, DIM + 1))), r"features has shape \(2, 17\), expected \(2, 16\)"),
        (dict(good[1], boxes=np.zeros((3, 5))), r"boxes has shape \(3, 5\), expected \(n, 4\)"),
        (dict(good[1], features=np.full_like(good[1]["features"], np.nan)), "features contain NaN or inf"),
        (dict(good[1], cls_probs=None), "cls_probs missing"),
        (dict(good[1], width=0), "width must be a positive"),
        (dict(good[1], height=12.5), "height must be a positive"),
        (dict(good[1], image_id="a\nb"), "without line breaks"),
    ]
    with RegionStoreWriter(tmp_path / "store", DIM, "float32", num_classes=CLASSES) as writer:
        writer.add(**good[0])
        for image, message in bad_cases:
            with pytest.raises(ValueError, match=message):
                writer.add(**image)
        writer.add(**good[1])
    store = RegionStore(tmp_path / "store")
    assert len(store) == 2
    assert_same(store[1], good[1], "float32")


def test_float16_overflow_is_refused(tmp_path):
    with RegionStoreWriter(tmp_path / "store", DIM) as writer:
        with pytest.raises(ValueError, match="features exceed the float16 range"):
            writer.add("a", 10, 10, np.zeros((1, 4)), np.full((1, DIM), 1e6))


def test_merge(tmp_path):
    parts = [make_images(7, seed=s, prefix=f"p{s}_") for s in range(3)]
    paths = [str(tmp_path / f"part{s}") for s in range(3)]
    for path, images in zip(paths, parts):
        write_store(path, images, source=[f"{path}.tsv"])
    merge_region_stores(paths, tmp_path / "merged")
    merged = RegionStore(tmp_path / "merged")
    everything = [image for images in parts for image in images]
    assert merged.ids == [image["image_id"] for image in everything]
    for row, image in enumerate(everything):
        assert_same(merged[row], image, "float32")
    assert merged.manifest["source"] == [f"{p}.tsv" for p in paths]
    assert merged.manifest["options"]["merged_from"] == paths


def test_merge_refuses_duplicates_and_mismatches(tmp_path):
    write_store(tmp_path / "a", make_images(3))
    write_store(tmp_path / "b", make_images(3, seed=5))  # same ids img0..img2
    write_store(tmp_path / "c", make_images(3, prefix="c", with_cls=False))
    with pytest.raises(ValueError, match=f"duplicate image id 'img0' \\(from {tmp_path / 'b'}\\)"):
        merge_region_stores([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    with pytest.raises(ValueError, match="cannot merge"):
        merge_region_stores([tmp_path / "a", tmp_path / "c"], tmp_path / "m")
    assert not os.path.exists(tmp_path / "m") and not os.path.exists(manifest_path(tmp_path / "m"))


def ids_sha256(path):
    return "sha256:" + hashlib.sha256(open(os.path.join(path, "ids.txt"), "rb").read()).hexdigest()


def test_identity_is_the_digest_of_the_ids_in_row_order(tmp_path):
    images = make_images(6, prefix="ü")  # non-ASCII ids: the digest is of ids.txt's UTF-8 bytes
    store = write_store(tmp_path / "store", images)
    assert store.manifest["ids_digest"] == store.ids_digest == ids_sha256(store.path)
    other_regions = make_images(6, seed=1, prefix="ü")  # the same ids with other boxes and features
    assert write_store(tmp_path / "again", other_regions).ids_digest == store.ids_digest
    assert write_store(tmp_path / "reordered", images[::-1]).ids_digest != store.ids_digest
    paths = [str(tmp_path / "a"), str(tmp_path / "b")]
    write_store(paths[0], images[:2])
    write_store(paths[1], images[2:])
    merge_region_stores(paths, tmp_path / "merged")
    merged = RegionStore(tmp_path / "merged")
    assert merged.manifest["ids_digest"] == store.ids_digest == ids_sha256(merged.path)

    # A store written before manifests recorded the digest gets it computed from ids.txt.
    manifest = dict(store.manifest)
    del manifest["ids_digest"]
    with open(manifest_path(store.path), "w") as f:
        json.dump(manifest, f)
    assert RegionStore(store.path).ids_digest == ids_sha256(store.path)


def test_normalized_boxes():
    boxes = np.array([[10, 20, 110, 70], [-5, 0, 50, 300], [0, 0, 200, 100]], np.float32)
    out = normalized_boxes(boxes, 200, 100)
    assert out.dtype == np.float32 and out.shape == (3, 5)
    np.testing.assert_allclose(out[0], [0.05, 0.2, 0.55, 0.7, 100 * 50 / 20000], rtol=1e-6)
    # Clipped to the image: x1 -5 -> 0, y2 300 -> 100.
    np.testing.assert_allclose(out[1], [0, 0, 0.25, 1, 50 * 100 / 20000], rtol=1e-6)
    np.testing.assert_allclose(out[2], [0, 0, 1, 1, 1], rtol=1e-6)
    assert normalized_boxes(np.zeros((0, 4)), 10, 10).shape == (0, 5)


def test_subset_copies_the_chosen_images_in_their_order(tmp_path):
    images = make_images(12, with_cls=True)
    store = write_store(tmp_path / "store", images, "float16", source=["a.tsv"], options={"format": "npz"})
    order = [7, 8, 9, 2, 3, 0, 11]  # runs of consecutive rows, copied as blocks, and single rows
    subset = subset_region_store(store.path, [images[i]["image_id"] for i in order], tmp_path / "subset")
    assert subset.ids == [images[i]["image_id"] for i in order] and len(subset) == 7
    for row, i in enumerate(order):
        assert_same(subset[row], images[i], "float16")
    assert subset.manifest["source"] == ["a.tsv"] and subset.manifest["options"]["format"] == "npz"
    assert subset.manifest["options"]["subset_of_digest"] == store.ids_digest
    with pytest.raises(InputError, match=f"ids.txt: 2 of 3 image ids are not in region store {store.path} "
                                         f"\\(first: 'nope', 'img99'\\)"):
        subset_region_store(store.path, ["img1", "nope", "img99"], tmp_path / "bad", str(tmp_path / "ids.txt"))
    assert not os.path.exists(tmp_path / "bad")


@pytest.mark.slow
def test_subset_regions_cli_by_id_list_or_caption_split(tmp_path, capsys):
    images = make_images(6, with_cls=False)
    store = write_store(tmp_path / "store", images)
    (tmp_path / "ids.txt").write_text("img4\nimg1\n\nimg5\n")
    proc = run_cli([sys.executable, SUBSET_SCRIPT, store.path, "-o", str(tmp_path / "images"), "--ids",
                    str(tmp_path / "ids.txt")])
    assert f"{tmp_path / 'images'}: 3 images" in proc.stdout
    assert RegionStore(tmp_path / "images").ids == ["img4", "img1", "img5"]

    pairs = tmp_path / "pairs"
    pairs.mkdir()
    with open(pairs / "train.captions.jsonl", "w") as f:
        for n, image in enumerate(["img3", "img0", "img3", "img2"]):
            f.write(json.dumps({"caption_id": str(n), "image_id": image, "text": "a caption"}) + "\n")
    main([store.path, "-o", str(tmp_path / "train"), "--captions", str(pairs / "train.captions.jsonl")])
    train = RegionStore(tmp_path / "train")
    assert train.ids == ["img3", "img0", "img2"]
    for row, i in enumerate((3, 0, 2)):
        assert_same(train[row], images[i], "float32")

    (tmp_path / "twice.txt").write_text("img1\nimg2\nimg1\n")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([store.path, "-o", str(tmp_path / "twice"), "--ids", str(tmp_path / "twice.txt")])
    assert exit_info.value.code == 1
    assert f"unimo-subset-regions: error: {tmp_path / 'twice.txt'}:3: image id 'img1' repeats line 1" \
        in capsys.readouterr().err
