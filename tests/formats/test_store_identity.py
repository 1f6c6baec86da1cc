"""Region-store identity: every artifact that holds store rows records the digest of the store's ids,
and its readers refuse a store whose images are not the ones, or not in the order, the rows were
written for (a reordered store given on the command line or rebuilt in place); a copy of the same
store is accepted, and an artifact written before stores had a digest warns and still loads. The
data is written by the real writers: a Karpathy split file, binarize_captions, RegionStoreWriter."""
import dataclasses
import json
import logging
import os
import shutil
import subprocess
from argparse import Namespace

import pytest

from unimo_plugin.common.artifacts import manifest_path, read_manifest
from unimo_plugin.formats.caption_sets import read_caption_records
from unimo_plugin.formats.cmcl_candidates import write_cmcl_raw
from unimo_plugin.formats.labeled_sets import LabeledExample, write_labeled_splits
from unimo_plugin.formats.mined_negatives import MinedNegatives
from unimo_plugin.formats.region_store import RegionStore, RegionStoreWriter
from unimo_plugin.preprocess.captions.caption_binarizer import binarize_captions
from unimo_plugin.preprocess.cmcl.sidecar_builder import build_cmcl_sidecars
from unimo_plugin.preprocess.finetune.negative_mining import mine_split
from unimo_plugin.preprocess.text.bpe_training import train_bpe
from unimo_plugin.tasks.unimo_caption import UnimoCaptionConfig, UnimoCaptionTask
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig, UnimoPretrainTask
from unimo_plugin.tasks.unimo_retrieval import UnimoRetrievalConfig, UnimoRetrievalTask
from unimo_plugin.tasks.unimo_snli_ve import UnimoSnliVeConfig, UnimoSnliVeTask
from unimo_plugin.tasks.unimo_vqa import UnimoVqaConfig, UnimoVqaTask
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin
from unimo_plugin.testing.synthetic_retrieval import FEATURE_DIM, write_retrieval_data
from unimo_plugin.testing.tiny_models import build_unimo

NUM_IMAGES = 10
REFUSED = "the store's images are not the ones, or not in the order, that the rows were written for"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """ROOT/raw/regions (the store), ROOT/bpe, ROOT/data/{dict.txt, pairs} (train and valid captions) and the
    labeled sets ROOT/snli_ve and ROOT/vqa."""
    root = tmp_path_factory.mktemp("identity")
    karpathy, store, corpus = write_retrieval_data(str(root / "raw"), {"train": NUM_IMAGES - 3, "val": 3},
                                                   captions_per_image=2)
    train_bpe([corpus], str(root / "bpe"), vocab_size=300, min_frequency=1, only_seen_tokens=True)
    bpe = bpe_config(root)
    (root / "data").mkdir()
    shutil.copyfile(root / "bpe" / "dict.txt", root / "data" / "dict.txt")
    binarize_captions([karpathy], str(root / "data" / "pairs"), store, str(root / "data" / "dict.txt"), bpe)
    for task, target_kind in (("snli_ve", "class"), ("vqa", "soft")):  # a question or hypothesis per image
        examples = [LabeledExample("made.jsonl", k + 1, ("a red circle",), target=0 if target_kind == "class"
                                   else {0: 1.0}, image_id=str(k)) for k in range(NUM_IMAGES)]
        write_labeled_splits(str(root / task), task, {"train": examples}, target_kind, ["yes", "no", "maybe"],
                             str(root / "data" / "dict.txt"), bpe, region_store=store)
    return root


def bpe_config(root):
    return Namespace(bpe="gpt2", gpt2_encoder_json=str(root / "bpe" / "encoder.json"),
                     gpt2_vocab_bpe=str(root / "bpe" / "vocab.bpe"))


@pytest.fixture
def root(made, tmp_path):
    """A copy of the made data (it moves as a whole), for a test to change."""
    shutil.copytree(made, tmp_path / "root")
    return tmp_path / "root"


def rewrite_store(source, path, order):
    """The images of store ``source``, in row ``order``, written to ``path`` (which may be ``source``)."""
    store = RegionStore(source)
    images = [store[row] for row in order]
    with RegionStoreWriter(path, store.feature_dim, store.feature_dtype, store.num_classes) as writer:
        for image in images:
            writer.add(image.image_id, image.width, image.height, image.boxes, image.features, image.cls_probs)
    return str(path)


def load_pairs(root, **overrides):
    task = UnimoPretrainTask.setup_task(UnimoPretrainConfig(data=str(root / "data"), seed=1, **overrides))
    task.load_dataset("train")
    return task.datasets["train"].corpora["pair"]


def forget_digest(artifact):
    """Make ``artifact``'s manifest one written before stores had a digest."""
    manifest = read_manifest(artifact)
    del manifest["region_store_digest"]
    with open(manifest_path(artifact), "w") as f:
        json.dump(manifest, f)


def test_caption_manifest_records_the_store_identity(made):
    manifest = read_manifest(made / "data" / "pairs")
    store = RegionStore(made / "raw" / "regions")
    assert manifest["region_store_digest"] == store.ids_digest == store.manifest["ids_digest"]
    assert manifest["region_store_images"] == NUM_IMAGES


PAIR_TASKS = {"unimo_pretrain": (UnimoPretrainTask, UnimoPretrainConfig(seed=1)),
              "unimo_caption": (UnimoCaptionTask, UnimoCaptionConfig()),
              "unimo_retrieval": (UnimoRetrievalTask, UnimoRetrievalConfig(train_subset="train", seed=1))}


@pytest.mark.parametrize("name", sorted(PAIR_TASKS))
def test_reordered_pair_region_store_is_refused(root, name):
    reordered = rewrite_store(root / "raw" / "regions", root / "reordered", range(NUM_IMAGES)[::-1])
    task_class, config = PAIR_TASKS[name]

    def load(store):
        task = task_class.setup_task(dataclasses.replace(config, data=str(root / "data"), pair_region_store=store))
        task.load_dataset("train")

    load(None)  # the store the caption manifest names
    with pytest.raises(ValueError, match=REFUSED) as refused:
        load(reordered)
    assert manifest_path(root / "data" / "pairs") in str(refused.value) and reordered in str(refused.value)


def test_store_rebuilt_in_place_in_another_order_is_refused(root):
    store = str(root / "raw" / "regions")
    rewrite_store(store, store, [1, 0] + list(range(2, NUM_IMAGES)))  # two images swap rows
    with pytest.raises(ValueError, match=REFUSED) as refused:
        load_pairs(root)
    assert manifest_path(root / "data" / "pairs") in str(refused.value) and store in str(refused.value)


def test_copy_of_the_store_elsewhere_is_accepted(root, caplog):
    copy = root / "elsewhere"
    shutil.copytree(root / "raw" / "regions", copy)
    shutil.copyfile(manifest_path(root / "raw" / "regions"), manifest_path(copy))
    with caplog.at_level(logging.WARNING):
        pairs = load_pairs(root, pair_region_store=str(copy))
    assert pairs.store.path == str(copy) and "region-store digest" not in caplog.text


def test_old_caption_dataset_warns_and_loads_or_is_refused_by_its_image_count(root, caplog):
    forget_digest(root / "data" / "pairs")
    with caplog.at_level(logging.WARNING):
        pairs = load_pairs(root)
    assert len(pairs) == 2 * (NUM_IMAGES - 3)
    assert f"{manifest_path(root / 'data' / 'pairs')}: no region-store digest recorded" in caplog.text
    assert "cannot verify that region store" in caplog.text and "image count, 10, matches" in caplog.text
    fewer = rewrite_store(root / "raw" / "regions", root / "fewer", range(NUM_IMAGES - 1))
    with pytest.raises(ValueError, match=f"written for a region store of {NUM_IMAGES} images, but region store "
                                         f"{fewer} has {NUM_IMAGES - 1}"):
        load_pairs(root, pair_region_store=fewer)


def test_cmcl_image_sidecar_refuses_a_store_rebuilt_in_another_order(root, caplog):
    pairs, store = root / "data" / "pairs", str(root / "raw" / "regions")
    captions = read_caption_records(pairs, "train")
    retrieved = root / "train.cmcl_raw.images.jsonl"  # each caption's image retrieves the next image
    write_cmcl_raw(retrieved, captions, [[{"image_id": str((int(c["image_id"]) + 1) % NUM_IMAGES)}]
                                         for c in captions], "images")
    build_cmcl_sidecars(str(pairs), "train", str(root / "data" / "dict.txt"), bpe_config(root),
                        {"images": [str(retrieved)]})
    sidecar = str(pairs / "train.cmcl.images")
    assert read_manifest(sidecar)["region_store_digest"] == RegionStore(store).ids_digest
    assert load_pairs(root).sidecars["images"][0] == [RegionStore(store).row_of("1")]

    # Captions binarized before stores had a digest, a sidecar built since, then the store rebuilt in
    # place with two images swapped: the captions can only be checked by their image count, the sidecar
    # refuses.
    forget_digest(pairs)
    rewrite_store(store, store, [1, 0] + list(range(2, NUM_IMAGES)))
    with caplog.at_level(logging.WARNING), pytest.raises(ValueError, match=REFUSED) as refused:
        load_pairs(root)
    assert manifest_path(sidecar) in str(refused.value) and store in str(refused.value)
    assert f"{manifest_path(pairs)}: no region-store digest recorded" in caplog.text

    # A sidecar written before sidecars recorded their store (no manifest) warns and loads.
    rewrite_store(store, store, [1, 0] + list(range(2, NUM_IMAGES)))  # back in the rows' order
    os.remove(manifest_path(sidecar))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert load_pairs(root).sidecars["images"][0] == [RegionStore(store).row_of("1")]
    assert f"{manifest_path(sidecar)}: no region-store digest recorded" in caplog.text


def test_mined_negatives_refuse_a_reordered_store(root, caplog):
    task = UnimoRetrievalTask.setup_task(UnimoRetrievalConfig(data=str(root / "data"), train_subset="train", seed=1))
    captions, image_rows = task.load_split("train")
    store, output = task.region_store(), str(root / "mined")
    model = build_unimo(task.source_dictionary, region_feature_dim=FEATURE_DIM)  # untrained: any ranking will do
    mine_split(model, task.source_dictionary, captions, image_rows, store, output, 2, progress=False)
    assert read_manifest(output)["region_store_digest"] == store.ids_digest
    MinedNegatives(output, image_rows, store)
    reordered = rewrite_store(store.path, root / "reordered", range(NUM_IMAGES)[::-1])
    with pytest.raises(ValueError, match=REFUSED) as refused:
        MinedNegatives(output, image_rows, RegionStore(reordered))
    assert manifest_path(output) in str(refused.value) and reordered in str(refused.value)
    forget_digest(output)  # mined before stores had a digest
    with caplog.at_level(logging.WARNING):
        MinedNegatives(output, image_rows, store)
    assert f"{manifest_path(output)}: no region-store digest recorded" in caplog.text


LABELED_TASKS = {"snli_ve": (UnimoSnliVeTask, UnimoSnliVeConfig), "vqa": (UnimoVqaTask, UnimoVqaConfig)}


@pytest.mark.parametrize("name", sorted(LABELED_TASKS))
def test_labeled_tasks_refuse_a_reordered_store_and_accept_their_own(root, name, caplog):
    task_class, config = LABELED_TASKS[name]
    data, store = root / name, RegionStore(root / "raw" / "regions")
    assert read_manifest(data)["region_store_digest"] == store.ids_digest
    with caplog.at_level(logging.WARNING):
        task = task_class.setup_task(config(data=str(data), seed=1))
        task.load_dataset("train")
    assert task.store.path == store.path and "region-store digest" not in caplog.text
    reordered = rewrite_store(store.path, root / "reordered", range(NUM_IMAGES)[::-1])
    with pytest.raises(ValueError, match=REFUSED) as refused:
        task_class.setup_task(config(data=str(data), seed=1, region_store=reordered))
    assert manifest_path(data) in str(refused.value) and reordered in str(refused.value)


@pytest.mark.slow
def test_fairseq_train_refuses_a_reordered_pair_region_store(root):
    reordered = rewrite_store(root / "raw" / "regions", root / "reordered", range(NUM_IMAGES)[::-1])
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([
        fairseq_bin("fairseq-train"), str(root / "data"), "--user-dir", f"{REPO_ROOT}/unimo_plugin",
        "--task", "unimo_pretrain", "--arch", "unimo_tiny", "--criterion", "unimo_pretrain",
        "--region-feature-dim", str(FEATURE_DIM), "--pair-region-store", reordered, "--optimizer", "adam",
        "--lr", "1e-3", "--max-tokens", "500", "--max-update", "1", "--cpu", "--num-workers", "0",
        "--save-dir", str(root / "ckpt")], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert REFUSED in proc.stderr and manifest_path(root / "data" / "pairs") in proc.stderr
    assert f"region store {reordered}" in proc.stderr
