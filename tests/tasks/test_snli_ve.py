"""SNLI-VE: jsonl in the public layout -> prepare_snli_ve.py -> fairseq-train of unimo_snli_ve ->
the evaluation command, whose accuracy is checked against its predictions; bad records are
reported by file and line."""
import json
import math
import os
import random
import re
from types import SimpleNamespace

import numpy as np
import pytest

from unimo_plugin.cli.eval_classification import main as evaluate_main
from unimo_plugin.cli.prepare_snli_ve import main as prepare_main
from unimo_plugin.criterions.unimo_classification import UnimoClassificationCriterion
from unimo_plugin.criterions.unimo_soft_bce import UnimoSoftBceCriterion
from unimo_plugin.formats.labeled_sets import read_labels, read_records
from unimo_plugin.tasks.unimo_snli_ve import UnimoSnliVeConfig, UnimoSnliVeTask
from unimo_plugin.testing.commands import run_cli
from unimo_plugin.testing.labeled_data import FEATURE_DIM, finetune_command, make_bpe, shape_of, write_scene_store
from unimo_plugin.testing.tiny_models import models_of_widths

NUM_TRAIN, NUM_VALID = 120, 30
FIRST_ID = 1000  # Flickr30k ids; the region store names images by file stem
NEUTRAL = ("old", "heavy", "for sale")


def records(images, rng):
    """Per image, in SNLI-VE's record layout: two hypotheses that a circle entails and a square
    contradicts, and a neutral one (a property no image shows), so that both modalities count."""
    out = []
    for k in images:
        shown = "entailment" if shape_of(k) == "circle" else "contradiction"
        for j, (label, hypothesis) in enumerate(((shown, "the object is round ."), (shown, "the shape is round ."),
                                                 ("neutral", f"the object is {rng.choice(NEUTRAL)} ."))):
            out.append({"Flikr30kID": f"{FIRST_ID + k}.jpg", "sentence1": "An object.", "sentence2": hypothesis,
                        "gold_label": label, "pairID": f"{k}h{j}", "captionID": f"{FIRST_ID + k}.jpg#0"})
    rng.shuffle(out)
    return out


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.writelines((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)
    return str(path)


@pytest.fixture(scope="module")
def snli_ve(tmp_path_factory):
    root = tmp_path_factory.mktemp("snli_ve")
    rng = random.Random(0)
    write_scene_store(str(root / "regions"), [str(FIRST_ID + k) for k in range(NUM_TRAIN + NUM_VALID)])
    rows = {"train": records(range(NUM_TRAIN), rng), "dev": records(range(NUM_TRAIN, NUM_TRAIN + NUM_VALID), rng)}
    files = {split: write_jsonl(root / f"snli_ve_{split}.jsonl", r) for split, r in rows.items()}
    bpe, bpe_args, dict_path = make_bpe([r["sentence2"] for r in rows["train"]], str(root / "bpe"))
    paths = {"store": str(root / "regions"), "bpe_args": bpe_args, "dict": dict_path, "rows": rows,
             "data": str(root / "data")}
    prepare(paths, paths["data"], ["--split", "train", files["train"], "--split", "valid", files["dev"]])
    return paths


def prepare(snli_ve, output, splits):
    prepare_main(["--region-store", snli_ve["store"], "--output-dir", output, "--dict", snli_ve["dict"],
                  *snli_ve["bpe_args"], *splits])


def test_labels_rows_and_records(snli_ve):
    data = snli_ve["data"]
    assert read_labels(data) == ["entailment", "neutral", "contradiction"]
    gold = [r["gold_label"] for r in snli_ve["rows"]["train"]]
    np.testing.assert_array_equal(np.load(os.path.join(data, "train.labels.npy")),
                                  [read_labels(data).index(g) for g in gold])
    rows = np.load(os.path.join(data, "train.image_rows.npy"))
    images = [int(r["Flikr30kID"][:-4]) - FIRST_ID for r in snli_ve["rows"]["train"]]
    np.testing.assert_array_equal(rows, images)  # the store holds the images in id order
    assert read_records(data, "valid")[0]["source"].endswith("snli_ve_dev.jsonl:1")


def test_the_head_is_declared_for_the_model_config(snli_ve):
    task = UnimoSnliVeTask.setup_task(UnimoSnliVeConfig(data=snli_ve["data"], seed=1))
    for width, model in zip((32, 48), models_of_widths(task, (32, 48), region_feature_dim=FEATURE_DIM)):
        head = model.classification_heads["snli_ve"]  # the release's: hidden projection to --head-hidden-dim
        assert (head.dense.in_features, head.dense.out_features, head.out_proj.out_features) == (width, 2048, 3)
    assert not hasattr(task, "embed_dim")


@pytest.mark.slow
def test_snli_ve_learns_and_accuracy_matches_predictions(snli_ve, tmp_path, capsys):
    """Trained as the release trains SNLI-VE: with VILLA's adversarial rounds (two here)."""
    train = run_cli(finetune_command(snli_ve["data"], tmp_path / "ckpt", "unimo_snli_ve", "unimo_classification", 150,
                                     "--max-regions", "8", "--adv-mode", "villa", "--adv-steps", "2"))
    kl = [float(v) for v in re.findall(r"adv_kl=([\d.e-]+)", train.stdout + train.stderr)]
    assert kl and all(math.isfinite(v) for v in kl) and sum(kl) > 0
    predictions = str(tmp_path / "dev.tsv")
    metrics = evaluate_main([str(tmp_path / "ckpt" / "checkpoint_last.pt"), "--data", snli_ve["data"],
                             "--split", "valid", "--predictions", predictions, "--no-progress", "--cpu"])
    with open(predictions) as f:
        predicted = [line.rstrip("\n").split("\t")[1] for line in f.readlines()[1:]]
    gold = [r["gold_label"] for r in snli_ve["rows"]["dev"]]
    assert metrics["accuracy"] == pytest.approx(100 * np.mean([p == g for p, g in zip(predicted, gold)]))
    assert f"accuracy {metrics['accuracy']:.2f}" in capsys.readouterr().out
    # every label is a third of the items; the text alone tells only the neutral ones apart (67 at best)
    assert metrics["accuracy"] > 75, metrics


@pytest.mark.parametrize("row, message", [
    ({"Flikr30kID": "99.jpg", "sentence2": "a thing .", "gold_label": "neutral"},
     "bad.jsonl:2: image '99' is not in region store"),
    ({"Flikr30kID": "1000.jpg", "sentence2": "a thing .", "gold_label": "maybe"},
     "bad.jsonl:2: unknown gold_label 'maybe'"),
    ({"Flikr30kID": "1000.jpg", "gold_label": "neutral"}, "bad.jsonl:2: missing field(s) sentence2"),
    ("{not json", "bad.jsonl:2: not JSON"),
])
def test_bad_records_are_reported_by_line(snli_ve, tmp_path, capsys, row, message):
    good = {"Flikr30kID": "1001.jpg", "sentence2": "the object is round .", "gold_label": "entailment"}
    path = write_jsonl(tmp_path / "bad.jsonl", [good, row])
    with pytest.raises(SystemExit):
        prepare(snli_ve, str(tmp_path / "out"), ["--split", "train", path])
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("criterion, target_kind", [(UnimoSoftBceCriterion, "class"),
                                                     (UnimoClassificationCriterion, "soft")])
def test_criterion_must_fit_the_targets(criterion, target_kind):
    with pytest.raises(ValueError, match="needs"):
        criterion(SimpleNamespace(target_kind=target_kind))
