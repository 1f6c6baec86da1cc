"""Scoring fairseq-generate output: the reader, the caption metrics (pycocoevalcap) and the text metrics
(rouge-score, sacreBLEU), checked against hand computations, and the scoring scripts as a user runs them."""
import json
import math
import os
import re
import sys

import numpy as np
import pytest

from unimo_plugin.cli.score_captions import main as score_captions_main
from unimo_plugin.cli.score_text import main as score_text_main
from unimo_plugin.common.artifacts import InputError
from unimo_plugin.evaluation.caption_metrics import METRICS, random_train_captions, score_captions, spice_score
from unimo_plugin.evaluation.generate_output import hypotheses_in_order, read_hypotheses
from unimo_plugin.evaluation.text_metrics import score_text, summary_sentences
from unimo_plugin.testing.commands import REPO_ROOT, run_cli

SCORE_CAPTIONS = os.path.join(REPO_ROOT, "data_scripts", "score_captions.py")
SCORE_TEXT = os.path.join(REPO_ROOT, "data_scripts", "score_text.py")

# "the cat sat on the mat" against "the cat sat on a mat": clipped n-gram matches 5/6, 3/5, 2/4, 1/3, equal
# lengths (no brevity penalty); the longest common subsequence "the cat sat on mat" has 5 of 6 words.
HYPOTHESIS, REFERENCE = "the cat sat on the mat", "the cat sat on a mat"
PRECISIONS = [5 / 6, 3 / 5, 2 / 4, 1 / 3]


def bleu_by_hand(n):
    return 100 * math.exp(sum(math.log(p) for p in PRECISIONS[:n]) / n)


def generate_output(hypotheses, nbest=1):
    """What fairseq-generate prints for sample ids -> hypotheses (a list gives the n-best), log lines
    included, samples in the length order fairseq uses rather than by id."""
    lines = ["2026-01-01 00:00:00 | INFO | fairseq_cli.generate | loading model(s)"]
    for sample_id, texts in sorted(hypotheses.items(), key=lambda item: -item[0]):
        texts = texts if isinstance(texts, list) else [texts] * nbest
        lines += [f"S-{sample_id}\tsource {sample_id}", f"T-{sample_id}\ttarget {sample_id}"]
        for rank, text in enumerate(texts):
            lines += [f"H-{sample_id}\t{-0.1 * (rank + 1)}\t{text}", f"D-{sample_id}\t{-0.1 * (rank + 1)}\t{text}",
                      f"P-{sample_id}\t-0.1 -0.1"]
    lines.append("Generate test with beam=5: BLEU4 = 12.34, 50.0/20.0/10.0/5.0 (BP=1.000)")
    return "\n".join(lines) + "\n"


def run_main(main, argv, capsys):
    """A command's main in this process, for its error exits: (exit code, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code, capsys.readouterr().err


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def write_pairs(pairs_dir, split, captions):
    """A caption split as binarize_captions.py writes it, without the token files: (image_id, text) pairs."""
    os.makedirs(pairs_dir, exist_ok=True)
    with open(os.path.join(pairs_dir, f"{split}.captions.jsonl"), "w") as f:
        for k, (image_id, text) in enumerate(captions):
            f.write(json.dumps({"caption_id": k, "image_id": image_id, "text": text}) + "\n")
    rows = {image_id: row for row, image_id in enumerate(dict.fromkeys(i for i, _ in captions))}
    np.save(os.path.join(pairs_dir, f"{split}.image_rows.npy"), np.array([rows[i] for i, _ in captions]))


TEST_CAPTIONS = [("img7", "A man riding a horse on a beach."), ("img3", "two dogs play with a ball in the grass"),
                 ("img7", "a person rides a brown horse by the sea"), ("img5", "a red bus parked on a city street"),
                 ("img3", "Two dogs chasing a ball.")]
TEST_REFERENCES = [[TEST_CAPTIONS[0][1], TEST_CAPTIONS[2][1]], [TEST_CAPTIONS[1][1], TEST_CAPTIONS[4][1]],
                   [TEST_CAPTIONS[3][1]]]  # images in the order of their first caption: img7, img3, img5
MODEL_CAPTIONS = ["a man riding a horse on the beach", "two dogs playing with a ball", "a bus on a street"]


def test_reader_takes_the_first_of_the_nbest_by_id(tmp_path):
    path = write(tmp_path / "gen.txt", generate_output({0: ["best zero", "second zero"], 1: ["best one", "x"]}))
    assert read_hypotheses(path) == {0: "best zero", 1: "best one"}
    os.makedirs(tmp_path / "results")
    write(tmp_path / "results" / "generate-test.txt", generate_output({0: "from the folder"}))
    assert read_hypotheses(str(tmp_path / "results")) == {0: "from the folder"}


def test_reader_errors_name_the_file_and_line(tmp_path):
    duplicated = generate_output({0: "a", 1: "b"}) + generate_output({1: "b again"})
    path = write(tmp_path / "dup.txt", duplicated)
    with pytest.raises(InputError, match=r"dup\.txt:\d+: duplicate sample id 1"):
        read_hypotheses(path)
    path = write(tmp_path / "quiet.txt", "2026-01-01 | INFO | fairseq_cli.generate | done\n")
    with pytest.raises(InputError, match=r"quiet\.txt: no D-<id> lines"):
        read_hypotheses(path)
    path = write(tmp_path / "gen.txt", generate_output({0: "a", 2: "c", 3: "d"}))
    with pytest.raises(InputError, match=r"gen\.txt: no hypothesis for 1 of the 4 samples \(first ids: 1\)"):
        hypotheses_in_order(read_hypotheses(path), 4, path)
    path = write(tmp_path / "long.txt", generate_output({0: "a", 1: "b", 2: "c"}))
    with pytest.raises(InputError, match=r"long\.txt: hypotheses for 1 sample ids beyond the 2 samples"):
        hypotheses_in_order(read_hypotheses(path), 2, path)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_hypotheses(str(tmp_path / "missing.txt"))
    os.makedirs(tmp_path / "empty_results")
    with pytest.raises(InputError, match="no generate-"):
        read_hypotheses(str(tmp_path / "empty_results"))


def test_text_metrics_match_hand_computation():
    scores, signature = score_text([HYPOTHESIS, REFERENCE], [REFERENCE, REFERENCE])
    assert scores["ROUGE-1"] == pytest.approx(100 * (5 / 6 + 1) / 2)
    assert scores["ROUGE-2"] == pytest.approx(100 * (3 / 5 + 1) / 2)
    assert scores["ROUGE-L"] == pytest.approx(100 * (5 / 6 + 1) / 2)
    assert score_text([HYPOTHESIS], [REFERENCE])[0]["BLEU"] == pytest.approx(bleu_by_hand(4), abs=1e-6)
    assert "tok:13a" in signature
    # stemming: "runs"/"running" both become "run"
    assert score_text(["the dog runs"], ["the dog running"])[0]["ROUGE-1"] == pytest.approx(100)


def test_rouge_lsum_splits_sentences_at_markers_or_sentence_ends():
    assert summary_sentences("the cat sat. the dog ran! ok") == ["the cat sat.", "the dog ran!", "ok"]
    assert summary_sentences("a b . <n> c d") == ["a b .", "c d"]
    # the same two sentences in the other order: the plain LCS keeps one of them, the summary-level one both
    for hypothesis, reference in [("the cat sat. the dog ran.", "the dog ran. the cat sat."),
                                  ("the cat sat <n> the dog ran", "the dog ran <n> the cat sat")]:
        scores, _ = score_text([hypothesis], [reference], rouge_lsum=True)
        assert scores["ROUGE-L"] == pytest.approx(50)
        assert scores["ROUGE-Lsum"] == pytest.approx(100)
        assert scores["ROUGE-1"] == pytest.approx(100)  # the markers are not words


@pytest.mark.slow  # pycocoevalcap's tokenizer and METEOR run Java subprocesses
def test_caption_metrics_match_hand_computation():
    scores, skipped = score_captions([HYPOTHESIS + "."], [[REFERENCE.capitalize()]])  # PTB: lower case, no "."
    assert not skipped and list(scores) == list(METRICS)
    for n in range(1, 5):  # pycocoevalcap smooths zero counts by 1e-9 only
        assert scores[f"BLEU-{n}"] == pytest.approx(bleu_by_hand(n), rel=1e-6)
    assert scores["ROUGE-L"] == pytest.approx(100 * 5 / 6, rel=1e-6)  # equal lengths: F-beta = P = R


def test_spice_failure_is_a_reason_not_a_crash(monkeypatch):
    import pycocoevalcap.spice.spice as spice

    def no_network():
        raise OSError("Name or service not known")

    monkeypatch.setattr(spice, "get_stanford_models", no_network)
    value, reason = spice_score({0: ["a cat"]}, {0: ["a cat"]})
    assert value is None and "OSError: Name or service not known" in reason and "Stanford CoreNLP" in reason


def test_random_train_captions_is_seeded():
    train = [["a"], ["b", "c"], ["d"], ["e", "f", "g"]]
    first = random_train_captions(train, 50, seed=3)
    assert first == random_train_captions(train, 50, seed=3) != random_train_captions(train, 50, seed=4)
    assert set(first) == set("abcdefg")


@pytest.mark.slow
def test_score_captions_script_against_pycocoevalcap(tmp_path, capsys):
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    pairs = str(tmp_path / "pairs")
    write_pairs(pairs, "test", TEST_CAPTIONS)
    gen = write(tmp_path / "gen.txt", generate_output(dict(enumerate(MODEL_CAPTIONS)), nbest=2))
    out = str(tmp_path / "scores.json")
    proc = run_cli([sys.executable, SCORE_CAPTIONS, gen, "--pairs", pairs, "--split", "test", "--json", out])
    with open(out) as f:
        record = json.load(f)
    assert (record["images"], record["references"], record["skipped"]) == (3, 5, {})
    assert list(record["scores"]) == list(METRICS)
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({i: [{"caption": c} for c in refs] for i, refs in enumerate(TEST_REFERENCES)})
    res = tokenizer.tokenize({i: [{"caption": c}] for i, c in enumerate(MODEL_CAPTIONS)})
    cider = 100 * Cider().compute_score(gts, res)[0]
    assert record["scores"]["CIDEr-D"] == pytest.approx(cider)
    assert re.search(rf"^CIDEr-D +{cider:.2f}$", proc.stdout, re.M)

    missing = write(tmp_path / "short.txt", generate_output({0: MODEL_CAPTIONS[0]}))
    code, stderr = run_main(score_captions_main, [missing, "--pairs", pairs], capsys)
    assert code == 1
    assert "short.txt: no hypothesis for 2 of the 3 images" in stderr and "first ids: 1, 2" in stderr


@pytest.mark.slow
def test_score_captions_baseline(tmp_path, capsys):
    pairs = str(tmp_path / "pairs")
    write_pairs(pairs, "test", TEST_CAPTIONS + [("img5", "a dog sits on a sofa"), ("img3", "a dog sits on a sofa"),
                                                ("img7", "a dog sits on a sofa")])
    write_pairs(pairs, "train", [("img100", "a dog sits on a sofa")])
    out = str(tmp_path / "baseline.json")
    run_cli([sys.executable, SCORE_CAPTIONS, "--baseline", "random-train-caption", "--pairs", pairs, "--json", out])
    with open(out) as f:
        record = json.load(f)
    assert record["hypotheses"] == "baseline random-train-caption (split train, seed 1)"
    assert record["scores"]["BLEU-4"] == pytest.approx(100, rel=1e-6)  # every image has the one train caption
    code, stderr = run_main(score_captions_main, ["--pairs", pairs], capsys)
    assert code == 2 and "GEN_OUTPUT or --baseline" in stderr


@pytest.mark.slow
def test_score_text_script(tmp_path, capsys):
    references = write(tmp_path / "test.target", f"{REFERENCE}\nthe dog ran <n> the cat sat\n")
    results = tmp_path / "results"
    os.makedirs(results)
    write(results / "generate-test.txt", generate_output({0: HYPOTHESIS, 1: "the cat sat <n> the dog ran"}))
    out = str(tmp_path / "scores.json")
    proc = run_cli([sys.executable, SCORE_TEXT, str(results), "--references", references, "--rouge-lsum",
                    "--json", out])
    with open(out) as f:
        record = json.load(f)
    assert record["scores"]["ROUGE-L"] == pytest.approx((100 * 5 / 6 + 50) / 2)
    assert record["scores"]["ROUGE-Lsum"] == pytest.approx((100 * 5 / 6 + 100) / 2)
    assert record["sacrebleu_signature"] in proc.stdout

    code, stderr = run_main(score_text_main, [str(tmp_path / "nothing.txt"), "--references", references], capsys)
    assert code == 1 and "nothing.txt: no such fairseq-generate output" in stderr
