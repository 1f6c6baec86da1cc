"""GLUE sentence prediction: TSVs in the public layouts -> prepare_glue.py -> fairseq-train of
unimo_sentence_prediction from a unimo_pretrain checkpoint -> the evaluation command, whose
metrics are checked against hand computations; bad records are reported by file and line."""
import contextlib
import io
import os
import random
import re
import shutil

import numpy as np
import pytest
from fairseq.data import Dictionary, data_utils

from unimo_plugin.cli.eval_classification import main as evaluate_main
from unimo_plugin.cli.prepare_glue import main as prepare_main
from unimo_plugin.data.finetune.labeled_dataset import ClassTargets, LabeledDataset
from unimo_plugin.evaluation.classification import classification_metrics, regression_metrics
from unimo_plugin.formats.labeled_sets import read_labels, read_records
from unimo_plugin.preprocess.text.text_binarizer import binarize_text
from unimo_plugin.testing.commands import REPO_ROOT, fairseq_bin, run_cli
from unimo_plugin.testing.labeled_data import finetune_command, make_bpe

POSITIVE, NEGATIVE = ("good", "great", "fine"), ("bad", "awful", "poor")
NOUNS = ("film", "plot", "cast", "story", "music", "ending")
COLOURS, SHAPES = ("red", "green", "blue", "pink"), ("circle", "square", "star")
QUALIFIERS = (("exactly", 5.0), ("much like", 3.8), ("unlike", 1.2), ("nothing like", 0.0))
MNLI_HEADER = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
               "sentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label")
STSB_HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"


def sst2_rows(n, rng):
    rows = []
    for _ in range(n):
        label = rng.randrange(2)
        adjective = rng.choice(POSITIVE if label else NEGATIVE)
        rows.append((f"the {rng.choice(NOUNS)} was {adjective} and the {rng.choice(NOUNS)} was long", label))
    return rows


def stsb_rows(n, rng):
    """The second phrase qualifies the first; the qualifier sets the score."""
    rows = []
    for _ in range(n):
        qualifier, score = rng.choice(QUALIFIERS)
        phrase = f"a {rng.choice(COLOURS)} {rng.choice(SHAPES)}"
        rows.append((phrase, f"{qualifier} {phrase}", score))
    return rows


def write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


@pytest.fixture(scope="module")
def glue(tmp_path_factory):
    root = tmp_path_factory.mktemp("glue")
    rng = random.Random(0)
    sst2 = {"train": sst2_rows(400, rng), "dev": sst2_rows(60, rng)}
    write(root / "SST-2" / "train.tsv", ["sentence\tlabel"] + [f"{s}\t{y}" for s, y in sst2["train"]])
    write(root / "SST-2" / "dev.tsv", ["sentence\tlabel"] + [f"{s}\t{y}" for s, y in sst2["dev"]])
    write(root / "SST-2" / "test.tsv", ["index\tsentence"] + [f"{i}\t{s}" for i, (s, _) in enumerate(sst2["dev"][:7])])
    stsb = {"train": stsb_rows(400, rng), "dev": stsb_rows(60, rng)}
    for split, rows in stsb.items():
        write(root / "STS-B" / f"{split}.tsv", [STSB_HEADER] + [
            f"{i}\tmain-captions\tMSRvid\t2012test\t{i:04d}\tnone\tnone\t{a}\t{b}\t{y:.3f}" for i, (a, b, y) in enumerate(rows)])
    texts = [s for rows in sst2.values() for s, _ in rows] + [t for rows in stsb.values() for a, b, _ in rows
                                                               for t in (a, b)]
    bpe, bpe_args, dict_path = make_bpe(texts + ["the cat sat on the mat", "a dog ran . Nobody knows why"],
                                        str(root / "bpe"))
    return {"root": root, "bpe": bpe, "bpe_args": bpe_args, "dict": dict_path, "sst2": sst2, "stsb": stsb}


def prepare(glue, task, out, glue_dir=None):
    prepare_main(["--task", task, "--glue-dir", str(glue_dir or glue["root"] / task), "--output-dir", str(out),
                  "--dict", glue["dict"], *glue["bpe_args"]])


def evaluate(checkpoint, data, split, predictions):
    """The evaluation command (in this process); its printed metrics."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        evaluate_main([checkpoint, "--data", data, "--split", split, "--predictions", predictions, "--no-progress",
                       "--cpu"])
    return {k: float(v) for k, v in re.findall(r"(accuracy|mcc|pearson|spearman) ([-\d.]+)", stdout.getvalue())}


def pretrained_checkpoint(glue, tmp_path):
    """A unimo_pretrain checkpoint of the same shape, trained a few steps on the SST-2 sentences."""
    data = tmp_path / "pretrain"
    os.makedirs(data / "text")
    shutil.copy(glue["dict"], data / "dict.txt")
    binarize_text(str(glue["root"] / "bpe.txt"), str(data / "text" / "train"), glue["dict"], glue["bpe"])
    run_cli([fairseq_bin("fairseq-train"), data, "--user-dir", f"{REPO_ROOT}/unimo_plugin", "--task", "unimo_pretrain",
             "--criterion", "unimo_pretrain", "--arch", "unimo_tiny", "--region-feature-dim", "12",
             "--encoder-layers", "2", "--encoder-embed-dim", "64", "--encoder-ffn-embed-dim", "128",
             "--tokens-per-sample", "32", "--max-tokens", "512", "--optimizer", "adam", "--lr", "1e-3",
             "--max-update", "3", "--disable-validation", "--cpu", "--save-dir", tmp_path / "pretrain_ckpt",
             "--num-workers", "0", "--no-epoch-checkpoints"])
    return str(tmp_path / "pretrain_ckpt" / "checkpoint_last.pt")


def read_predictions(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")[:-1]
    assert lines[0] == "index\tprediction"
    return [line.split("\t") for line in lines[1:]]


@pytest.mark.slow
def test_sst2_learns_from_a_pretrained_checkpoint(glue, tmp_path):
    data = str(tmp_path / "SST-2")
    prepare(glue, "SST-2", data)
    assert sorted(f for f in os.listdir(data) if f.endswith(".bin")) == [
        "test.input0.bin", "train.input0.bin", "valid.input0.bin"]
    assert not os.path.exists(os.path.join(data, "test.labels.npy"))  # the test file is unlabeled
    np.testing.assert_array_equal(np.load(os.path.join(data, "valid.labels.npy")), [y for _, y in glue["sst2"]["dev"]])

    pretrained = pretrained_checkpoint(glue, tmp_path)
    proc = run_cli(finetune_command(data, tmp_path / "ckpt", "unimo_sentence_prediction", "unimo_classification", 100,
                                    "--pretrained", pretrained, "--best-checkpoint-metric", "accuracy",
                                    "--maximize-best-checkpoint-metric"))
    assert "initialised" in proc.stdout + proc.stderr and "from UNIMO checkpoint" in proc.stdout + proc.stderr
    metrics = evaluate(str(tmp_path / "ckpt" / "checkpoint_best.pt"), data, "valid", str(tmp_path / "dev.tsv"))
    predictions = read_predictions(tmp_path / "dev.tsv")
    gold = [str(y) for _, y in glue["sst2"]["dev"]]
    by_hand = 100 * sum(p == g for (_, p), g in zip(predictions, gold)) / len(gold)
    assert metrics["accuracy"] == pytest.approx(by_hand, abs=0.01)
    assert metrics["accuracy"] > 80, metrics  # chance is 50

    evaluate(str(tmp_path / "ckpt" / "checkpoint_best.pt"), data, "test", str(tmp_path / "test.tsv"))
    assert [i for i, _ in read_predictions(tmp_path / "test.tsv")] == [str(i) for i in range(7)]


@pytest.mark.slow
def test_stsb_regression_learns(glue, tmp_path):
    data = str(tmp_path / "STS-B")
    prepare(glue, "STS-B", data)
    assert read_labels(data) is None
    run_cli(finetune_command(data, tmp_path / "ckpt", "unimo_sentence_prediction", "unimo_classification", 150))
    metrics = evaluate(str(tmp_path / "ckpt" / "checkpoint_last.pt"), data, "valid", str(tmp_path / "dev.tsv"))
    predicted = np.array([float(p) for _, p in read_predictions(tmp_path / "dev.tsv")])
    gold = np.array([y for _, _, y in glue["stsb"]["dev"]])
    dp, dg = predicted - predicted.mean(), gold - gold.mean()
    pearson = (dp * dg).sum() / np.sqrt((dp ** 2).sum() * (dg ** 2).sum())
    assert metrics["pearson"] == pytest.approx(100 * pearson, abs=0.05)  # predictions are printed to 3 decimals
    assert metrics["pearson"] > 50 and metrics["spearman"] > 50, metrics


def test_mnli_and_cola_layouts(glue, tmp_path):
    mnli = tmp_path / "MNLI"
    row = "{i}\t1\t1e\tfiction\t( a )\t( b )\t(ROOT a)\t(ROOT b)\t{s1}\t{s2}\t{y}\t{y}"
    write(mnli / "train.tsv", [MNLI_HEADER, row.format(i=0, s1="a dog ran", s2="a dog moved", y="entailment"),
                               row.format(i=1, s1="a dog ran", s2="a cat sat", y="neutral")])
    write(mnli / "dev_matched.tsv", [MNLI_HEADER, row.format(i=0, s1="a dog", s2="no dog", y="contradiction")])
    write(mnli / "dev_mismatched.tsv", [MNLI_HEADER, row.format(i=0, s1="a cat", s2="a cat", y="entailment")])
    write(mnli / "test_matched.tsv", ["index\tpromptID\tpairID\tgenre\tsentence1\tsentence2", "5\t1\t1\tx\ta dog\ta cat"])
    prepare(glue, "MNLI", tmp_path / "mnli_out", mnli)
    out = str(tmp_path / "mnli_out")
    assert read_labels(out) == ["entailment", "neutral", "contradiction"]
    np.testing.assert_array_equal(np.load(os.path.join(out, "train.labels.npy")), [0, 1])
    np.testing.assert_array_equal(np.load(os.path.join(out, "valid.labels.npy")), [2])
    np.testing.assert_array_equal(np.load(os.path.join(out, "valid_mismatched.labels.npy")), [0])
    assert os.path.exists(os.path.join(out, "train.input1.bin"))
    assert read_records(out, "test") == [{"source": f"{mnli / 'test_matched.tsv'}:2", "index": "5"}]

    cola = tmp_path / "CoLA"  # train/dev have no header, test has one
    write(cola / "train.tsv", ["gj04\t1\t\tThe cat sat.", "gj04\t0\t*\tCat the sat."])
    write(cola / "dev.tsv", ["gj04\t0\t*\tSat cat the."])
    write(cola / "test.tsv", ["index\tsentence", "0\tThe dog ran."])
    prepare(glue, "CoLA", tmp_path / "cola_out", cola)
    np.testing.assert_array_equal(np.load(tmp_path / "cola_out" / "train.labels.npy"), [1, 0])
    assert not os.path.exists(tmp_path / "cola_out" / "test.labels.npy")


@pytest.mark.parametrize("task, lines, message", [
    ("CoLA", ["gj04\t1\t\tFine.", "gj04\t2\t\tUnknown label."], "train.tsv:2: unknown label '2'"),
    ("CoLA", ["gj04\t1\t\tFine.", "gj04\t1"], "train.tsv:2: 2 fields, expected 4 (missing label_notes, sentence)"),
    ("STS-B", [STSB_HEADER, "0\tg\tf\ty\t0\tn\tn\ta\tb\tfive"], "train.tsv:2: score 'five' is not a number"),
    ("SST-2", ["text\tlabel", "nice\t1"], "train.tsv:1: header has no column(s) sentence"),
])
def test_bad_records_are_reported_by_line(glue, tmp_path, task, lines, message, capsys):
    write(tmp_path / task / "train.tsv", lines)
    with pytest.raises(SystemExit):
        prepare(glue, task, tmp_path / "out", tmp_path / task)
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out")


def test_metrics_by_hand():
    # gold 1 0 0 0 1 / predicted 1 1 0 0 1: TP 2, TN 2, FP 1, FN 0 -> MCC = (2*2 - 1*0) / sqrt(3*2*3*2) = 2/3
    metrics = classification_metrics([1, 1, 0, 0, 1], [1, 0, 0, 0, 1])
    assert metrics["accuracy"] == pytest.approx(80.0) and metrics["mcc"] == pytest.approx(200 / 3)
    # deviations (-1, 0, 1) and (-4/3, -1/3, 5/3): covariance 3, variances 2 and 42/9; ranks agree
    metrics = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    assert metrics["pearson"] == pytest.approx(100 * 3 / np.sqrt(2 * 42 / 9))
    assert metrics["spearman"] == pytest.approx(100.0)


def test_pair_layout_and_truncation(glue, tmp_path):
    """The release's ``<s> a </s> b </s>`` (an over-long pair loses tokens from its longer text) and RoBERTa's
    ``<s> a </s> </s> b </s>`` (cut at the end, the final ``</s>`` kept)."""
    mnli = tmp_path / "MNLI"
    write(mnli / "train.tsv", [MNLI_HEADER, "0\t1\t1e\tfiction\t( a )\t( b )\t(ROOT a)\t(ROOT b)\ta big red circle\t"
                                            "a star\tneutral\tneutral"])
    prepare(glue, "MNLI", tmp_path / "out", mnli)
    d = Dictionary.load(str(tmp_path / "out" / "dict.txt"))
    inputs = [data_utils.load_indexed_dataset(str(tmp_path / "out" / f"train.input{k}"), d) for k in (0, 1)]
    a, b = (x[0].tolist() for x in inputs)
    assert len(a) > len(b) + 1 and a[-1] == b[-1] == d.eos()
    targets = ClassTargets(np.load(tmp_path / "out" / "train.labels.npy"))
    sample = LabeledDataset(inputs=inputs, dictionary=d, targets=targets)[0]
    assert sample["tokens"].tolist() == [d.bos()] + a + b
    assert sample["target"].item() == 1
    cut = LabeledDataset(inputs=inputs, dictionary=d, targets=targets, max_positions=len(a) + len(b))
    assert cut[0]["tokens"].tolist() == [d.bos()] + a[:-2] + [d.eos()] + b and cut.size(0) == len(a) + len(b)
    roberta = LabeledDataset(inputs=inputs, dictionary=d, targets=targets, pair_format="roberta")[0]
    assert roberta["tokens"].tolist() == [d.bos()] + a + [d.eos()] + b
    cut = LabeledDataset(inputs=inputs, dictionary=d, targets=targets, max_positions=4, pair_format="roberta")
    assert cut[0]["tokens"].tolist() == [d.bos()] + a[:2] + [d.eos()] and cut.size(0) == 4


def test_every_item_is_batched(glue, tmp_path):
    """fairseq 0.12 drops a last batch below --required-batch-size-multiple; validation keeps it."""
    prepare(glue, "SST-2", tmp_path / "out")
    d = Dictionary.load(str(tmp_path / "out" / "dict.txt"))
    dataset = LabeledDataset(inputs=[data_utils.load_indexed_dataset(str(tmp_path / "out" / "test.input0"), d)],
                             dictionary=d)
    batches = dataset.batch_by_size(dataset.ordered_indices(), max_sentences=4, required_batch_size_multiple=8)
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
