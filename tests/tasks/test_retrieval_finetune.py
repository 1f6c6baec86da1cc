"""Retrieval fine-tuning end to end: a Karpathy-format split file and region store made here,
binarize_captions.py as the converter, a short ``fairseq-train --task unimo_retrieval`` run that
learns which caption names which image, the evaluation command (exhaustive and two-stage) against
chance and against hand computations, hard-negative mining, and bad input."""
import json
import os
import re
import sys

import numpy as np
import pytest
import torch
from fairseq.data import data_utils

from unimo_plugin.cli.eval_cross_retrieval import main as evaluate_main
from unimo_plugin.cli.mine_retrieval_negatives import main as mine_main
from unimo_plugin.common.artifacts import InputError, read_manifest
from unimo_plugin.data.finetune.retrieval_pairs import RetrievalPairsDataset
from unimo_plugin.evaluation import cross_retrieval
from unimo_plugin.evaluation.cross_retrieval import exhaustive_scores, two_stage_scores
from unimo_plugin.evaluation.retrieval import chance_recall_at_k, recall_at_k
from unimo_plugin.formats.mined_negatives import MinedNegatives
from unimo_plugin.formats.region_store import RegionStore
from unimo_plugin.models.bi_encoder import embed_split
from unimo_plugin.preprocess.captions.caption_binarizer import binarize_captions
from unimo_plugin.preprocess.text.bpe_training import train_bpe
from unimo_plugin.tasks.unimo_retrieval import UnimoRetrievalConfig, UnimoRetrievalTask
from unimo_plugin.testing import synthetic_corpora
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin, run_cli
from unimo_plugin.testing.synthetic_retrieval import write_retrieval_data
from unimo_plugin.testing.tiny_models import models_of_widths

BINARIZE = [sys.executable, os.path.join(REPO_ROOT, "data_scripts", "binarize_captions.py")]
WRONG_IMAGES, WRONG_CAPTIONS = 2, 2
TINY = ["--arch", "unimo_tiny", "--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128",
        "--encoder-attention-heads", "4", "--max-positions", "64", "--region-feature-dim", "12",
        "--num-region-classes", "2", "--dropout", "0", "--attention-dropout", "0"]


def fairseq_train(data, save_dir, max_update, *extra):
    return run_cli([
        fairseq_bin("fairseq-train"), data, "--user-dir", f"{REPO_ROOT}/unimo_plugin", "--task", "unimo_retrieval",
        "--criterion", "unimo_retrieval", "--num-wrong-images", str(WRONG_IMAGES),
        "--num-wrong-captions", str(WRONG_CAPTIONS), *TINY, "--batch-size", "16",
        "--optimizer", "adam", "--lr", "2e-3", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "20",
        "--max-update", str(max_update), "--log-format", "simple", "--cpu", "--seed", "1", "--num-workers", "0",
        "--save-dir", save_dir, "--no-epoch-checkpoints", *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrieval")
    karpathy, store, corpus = write_retrieval_data(str(root / "raw"), {"train": 64, "val": 16, "test": 12},
                                                   captions_per_image=3)
    train_bpe([corpus], str(root / "bpe"), vocab_size=300, min_frequency=1, only_seen_tokens=True)
    data = root / "data"
    data.mkdir()
    (data / "dict.txt").write_bytes((root / "bpe" / "dict.txt").read_bytes())
    run_cli(BINARIZE + ["--input", karpathy, "--region-store", store, "--output-dir", str(data / "pairs"),
                        "--dict", str(data / "dict.txt"), "--gpt2-encoder-json", str(root / "bpe" / "encoder.json"),
                        "--gpt2-vocab-bpe", str(root / "bpe" / "vocab.bpe")])
    proc = fairseq_train(data, root / "ckpt", 120, "--bi-encoder-weight", "1", "--validate-interval", "3")
    log = proc.stderr + proc.stdout
    accuracy = [float(a) for a in re.findall(r"valid on 'valid' subset .*?\| accuracy ([\d.]+)", log)]
    return {"root": root, "data": str(data), "karpathy": karpathy, "store": store, "accuracy": accuracy,
            "checkpoint": str(root / "ckpt" / "checkpoint_last.pt")}


@pytest.mark.slow
def test_fine_tuning_beats_chance_in_training_and_evaluation(trained, capsys):
    chance = 100 / (1 + WRONG_IMAGES + WRONG_CAPTIONS)  # the positive ranked first in its group at random
    assert np.mean(trained["accuracy"][-2:]) > chance + 25, trained["accuracy"]  # 48 groups: noisy one by one
    recall, cost = evaluate_main([trained["checkpoint"], "--data", trained["data"], "--split", "test",
                                  "--no-progress"])
    assert (cost["images"], cost["captions"], cost["pairs_scored"]) == (12, 36, 12 * 36)
    image_rows = np.load(os.path.join(trained["data"], "pairs", "test.image_rows.npy"))
    random = chance_recall_at_k(np.searchsorted(np.unique(image_rows), image_rows), [1])[1]
    assert recall[1][0] > 2 * random[0] and recall[1][1] > 2 * random[1], (recall, random)
    table = capsys.readouterr().out
    for k in (1, 5, 10):
        assert re.search(rf"R@{k}\s+{recall[k][0]:.1f}\s+{recall[k][1]:.1f}", table), table


@pytest.mark.slow
def test_two_stage_with_every_candidate_equals_exhaustive(trained):
    args = [trained["checkpoint"], "--data", trained["data"], "--split", "test", "--no-progress"]
    exhaustive, _ = evaluate_main(args)
    two_stage, cost = evaluate_main(args + ["--mode", "two-stage", "--top-k", "36"])
    assert two_stage == exhaustive and cost["pairs_scored"] == 12 * 36
    _, cost = evaluate_main(args + ["--mode", "two-stage", "--top-k", "2"])
    assert cost["pairs_scored"] <= 12 * 2 + 36 * 2


def test_groups_hold_the_positive_first_then_wrong_images_then_wrong_captions(tmp_path):
    """The release's groups: the positive, the caption with other images, the image with other captions."""
    d = synthetic_corpora.dictionary()
    root = synthetic_corpora.build(str(tmp_path), d, sidecars=False)
    captions = data_utils.load_indexed_dataset(str(tmp_path / "pairs" / "train"), d, combine=False)
    image_rows = np.load(tmp_path / "pairs" / "train.image_rows.npy")
    store = RegionStore(os.path.join(root, "pair_store"))
    split = dict(captions=captions, image_rows=image_rows, store=store, dictionary=d, num_wrong_images=2,
                 num_wrong_captions=3, seed=1, max_regions=4, max_caption_tokens=64)
    dataset = RetrievalPairsDataset(**split)
    assert dataset.num_candidates == 6
    caption_of = {tuple(captions[i].tolist()): i for i in range(len(captions))}
    features_of = lambda row: torch.from_numpy(np.array(store[row].features[:4], dtype=np.float32))  # noqa: E731
    for index in range(len(dataset)):
        pairs = dataset[index]["pairs"]
        texts = [caption_of[tuple(tokens[1:].tolist())] for tokens, _ in pairs]  # without <s>
        assert all(tokens[0] == d.bos() for tokens, _ in pairs)
        row = image_rows[index]
        assert texts[0] == index and torch.equal(pairs[0][1]["features"], features_of(row))
        for text, (_, image) in zip(texts[1:3], pairs[1:3]):  # the caption with wrong images
            assert text == index and not torch.equal(image["features"], features_of(row))
        for text, (_, image) in zip(texts[3:], pairs[3:]):  # the image with wrong captions
            assert image_rows[text] != row and torch.equal(image["features"], features_of(row))
    batch = dataset.collater([dataset[0], dataset[1]])
    assert batch["net_input"]["src_tokens"].shape[0] == 12 and batch["image_rows"].tolist() == image_rows[:2].tolist()
    assert (batch["num_candidates"], batch["num_wrong_images"]) == (6, 2)
    dataset.set_epoch(2)  # new negatives each epoch
    again = RetrievalPairsDataset(**split)  # at epoch 1
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(dataset[0]["pairs"], again[0]["pairs"]))
    with pytest.raises(ValueError, match="a group needs at least one negative"):
        RetrievalPairsDataset(**dict(split, num_wrong_images=0, num_wrong_captions=0))


def test_circle_loss_by_hand():
    """m = 0.2, s = 1: a_p = relu(1.2 - s_p), a_n = relu(s_n + 0.2);
    loss = log(1 + sum_n exp(a_n (s_n - 0.2)) * exp(-a_p (s_p - 0.8)))."""
    import math

    from unimo_plugin.criterions.unimo_retrieval import circle_loss, group_circle_loss

    positive, negatives = 0.7, [0.4, 0.1, -0.5]
    a_p = 1.2 - positive
    loss_p = math.exp(-a_p * (positive - 0.8))
    loss_n = sum(math.exp(max(n + 0.2, 0) * (n - 0.2)) for n in negatives)
    want = math.log(1 + loss_n * loss_p)
    got = circle_loss(torch.tensor([[positive]]), torch.tensor([negatives]), 0.2, 1.0)
    assert got.item() == pytest.approx(want, rel=1e-6)
    scores = torch.tensor([[positive, 0.4, 0.1, -0.5, 0.3]])  # 3 wrong images, then 1 wrong caption
    halves = [want, math.log(1 + math.exp((0.3 + 0.2) * (0.3 - 0.2)) * loss_p)]
    assert group_circle_loss(scores, 3, 0.2, 1.0).item() == pytest.approx(sum(halves) / 2, rel=1e-6)
    assert group_circle_loss(scores[:, :4], 3, 0.2, 1.0).item() == pytest.approx(want, rel=1e-6)  # no wrong caption
    # held-constant weights: the gradient is a_p's and a_n's, not their derivatives'
    s = torch.tensor([[positive]], requires_grad=True)
    circle_loss(s, torch.tensor([negatives])).sum().backward()
    grad = (loss_n * loss_p) / (1 + loss_n * loss_p) * (-a_p)
    assert s.grad.item() == pytest.approx(grad, rel=1e-6)


def test_the_score_head_is_declared_for_the_model_config(tmp_path):
    synthetic_corpora.build(str(tmp_path), synthetic_corpora.dictionary(), sidecars=False)
    task = UnimoRetrievalTask.setup_task(UnimoRetrievalConfig(data=str(tmp_path), seed=1))
    widths = (32, 48)
    for width, model in zip(widths, models_of_widths(task, widths, region_feature_dim=synthetic_corpora.FEATURE_DIM)):
        head = model.classification_heads["retrieval"]
        assert (head.out_proj.in_features, head.out_proj.out_features) == (width, 1)
    assert not hasattr(task, "embed_dim")


def test_exhaustive_and_two_stage_recall_by_hand():
    # 3 images; captions 0, 1 -> image 0, caption 2 -> image 1, caption 3 -> image 2
    caption_images = [0, 0, 1, 2]
    cross = torch.tensor([[0.9, 0.1, 0.5, 0.0],
                          [0.2, 0.3, 0.8, 0.1],
                          [0.6, 0.4, 0.7, 0.2]])
    bi = torch.tensor([[0.5, 0.1, 0.4, 0.0],
                       [0.1, 0.2, 0.0, 0.3],
                       [0.0, 0.3, 0.1, 0.6]])

    def lookup(pairs):
        lookup.scored += len(pairs)
        return cross[pairs[:, 0], pairs[:, 1]]

    def recall(i2t, t2i, k):
        return (recall_at_k(i2t, caption_images, [k])[k][0],
                recall_at_k(t2i, caption_images, [k])[k][1])

    lookup.scored = 0
    i2t, t2i = exhaustive_scores(3, 4, lookup)
    assert lookup.scored == 12 and torch.equal(i2t, cross) and torch.equal(t2i, cross)
    # i2t@1: image 0 -> caption 0 (hit), image 1 -> 2 (hit), image 2 -> 2 (miss): 2/3
    # t2i@1: caption 0 -> image 0 (hit), 1 -> 2 (miss), 2 -> 1 (hit), 3 -> 2 (hit): 3/4
    assert recall(i2t, t2i, 1) == pytest.approx((200 / 3, 75.0))

    lookup.scored = 0
    i2t, t2i = two_stage_scores(bi, 2, lookup)
    # Bi-encoder top 2 captions per image: {0, 2}, {3, 1}, {3, 1}; top 2 images per caption (as
    # (image, caption)): (0,0) (1,0), (2,1) (1,1), (0,2) (2,2), (2,3) (1,3). Union: 8 distinct pairs.
    assert lookup.scored == 8
    # image->text, each top 2 reranked by cross, then the rest by bi-encoder: image 0 [0, 2, 1, 3] (own
    # 0, 1: hit@1), image 1 [1, 3, 0, 2] (own 2: hit@4), image 2 [1, 3, 2, 0] (own 3: hit@2).
    # text->image: caption 0 [0, 1, 2] (own 0: hit@1), caption 1 [2, 1, 0] (own 0: hit@3), caption 2
    # [2, 0, 1] (own 1: hit@3; exhaustive had it @1: outside the bi-encoder's top 2), caption 3 [2, 1, 0] (hit@1).
    assert recall(i2t, t2i, 1) == pytest.approx((100 / 3, 50.0))
    assert recall(i2t, t2i, 2) == pytest.approx((200 / 3, 50.0))
    assert recall(i2t, t2i, 3) == pytest.approx((200 / 3, 100.0))
    assert i2t[1].argsort(descending=True).tolist() == [1, 3, 0, 2]  # outside the top 2: bi-encoder order


@pytest.mark.slow
def test_mined_negatives_sharded_equal_one_run_and_train(trained):
    data, ckpt = trained["data"], trained["checkpoint"]
    pairs = os.path.join(data, "pairs")
    common = [ckpt, "--data", data, "--split", "train", "-n", "4", "--no-progress"]
    mine_main(common)
    out = os.path.join(pairs, "train.retrieval_negatives")
    sharded = str(trained["root"] / "sharded")
    mine_main(common + ["--output", sharded, "--num-shards", "3", "--shard-id", "1"])
    with pytest.raises(SystemExit):  # shards 0 and 2 are missing
        mine_main(common + ["--output", sharded, "--num-shards", "3", "--shard-id", "1", "--merge"])
    mine_main(common + ["--output", sharded, "--num-shards", "3"])  # the rest, then the search
    for name in ("images.npy", "image_rows.npy", "captions.npy"):
        np.testing.assert_array_equal(np.load(os.path.join(out, name)), np.load(os.path.join(sharded, name)))
    assert read_manifest(out)["negative_images_per_caption"] == 4
    assert read_manifest(f"{sharded}.embeddings.shard1-of-3")["run"]["shard"] == [1, 3]  # the shared sharded run
    assert read_manifest(sharded)["run"]["merge_options"] == {"num_negatives": 4}
    with pytest.raises(InputError, match="mined for 192 captions of 64 images, but the split has 191 captions"):
        MinedNegatives(out, np.load(os.path.join(pairs, "train.image_rows.npy"))[:-1], RegionStore(trained["store"]))

    # Hardest first by the bi-encoder similarity, never the caption's own image.
    image_rows = np.load(os.path.join(pairs, "train.image_rows.npy"))
    mined = MinedNegatives(out, image_rows, RegionStore(trained["store"]))
    model, task = cross_retrieval.load_checkpoint(ckpt, data)
    captions, _ = task.load_split("train")
    images, texts, caption_images = embed_split(model, task.source_dictionary, captions, image_rows,
                                                task.region_store(), 100, progress=False)
    similarity = (images @ texts.t()).numpy()
    rows = np.unique(image_rows)
    for c in (0, 50, 191):  # compared by similarity: identical captions of other images tie
        negatives = np.searchsorted(rows, mined.images[c])
        assert caption_images[c] not in negatives
        others = np.delete(similarity[:, c], caption_images[c])
        np.testing.assert_array_equal(similarity[negatives, c], np.sort(others)[::-1][:4])
    for i in (0, 63):
        negatives = mined.captions_of_image(rows[i])
        assert not (caption_images[negatives] == i).any()
        others = similarity[i, caption_images != i]
        np.testing.assert_array_equal(similarity[i, negatives], np.sort(others)[::-1][:4])

    proc = fairseq_train(data, trained["root"] / "ckpt_hard", 3, "--hard-negatives")
    assert "train: 192 captions of 64 images, mined negatives" in proc.stderr + proc.stdout


def test_bad_records_are_reported(tmp_path):
    karpathy, store, _ = write_retrieval_data(str(tmp_path / "raw"), {"train": 3, "test": 2}, captions_per_image=1)
    with open(karpathy) as f:
        records = json.load(f)
    unknown = json.loads(json.dumps(records))
    unknown["images"][1]["imgid"] = 99
    missing = json.loads(json.dumps(records))
    del missing["images"][4]["sentences"][0]["raw"]
    dictionary = tmp_path / "dict.txt"  # never read: the records are refused first
    dictionary.write_text("")
    for content, message in ((unknown, r"1 captions of 1 images have no regions in .* \(first: 99\)"),
                             (missing, r"images\[4\] \(image 4\) sentences\[0\]: empty or missing 'raw' caption")):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(content))
        with pytest.raises(InputError, match=rf"bad\.json: {message}"):
            binarize_captions([str(path)], str(tmp_path / "out"), store, str(dictionary), None)
        assert not os.path.exists(tmp_path / "out")
