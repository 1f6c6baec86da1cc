"""VQA v2: the official question/annotation JSON -> prepare_vqa.py (answer vocabulary, soft scores)
-> fairseq-train of unimo_vqa -> the evaluation command, whose VQA accuracy is checked against a
hand computation of the official metric; bad records are reported by position."""
import json
import os
import random
import re

import numpy as np
import pytest

from unimo_plugin.cli.eval_vqa import main as evaluate_main
from unimo_plugin.cli.prepare_vqa import main as prepare_main
from unimo_plugin.evaluation.vqa import vqa_accuracy
from unimo_plugin.formats.labeled_sets import read_labels, read_records
from unimo_plugin.formats.vqa_answers import normalize_answer
from unimo_plugin.testing.commands import run_cli
from unimo_plugin.testing.labeled_data import (
    COLOURS,
    SHAPES,
    colour_of,
    finetune_command,
    make_bpe,
    shape_of,
    write_scene_store,
)

QUESTIONS = {"what color is the object?": colour_of, "what shape is the object?": shape_of}
NUM_TRAIN, NUM_VALID = 90, 24
TEMPLATE = "COCO_{:012d}"


def official_files(images, first_question_id, rng):
    """Questions and annotations of ``images`` in the official layout. Each question's 10 human
    answers: 7 the truth, 1 a variant that normalises to it, 2 other answers of its kind given once."""
    questions, annotations = [], []
    for k in images:
        for q, (text, truth_of) in enumerate(QUESTIONS.items()):
            truth = truth_of(k)
            others = rng.sample([a for a in (COLOURS if truth in COLOURS else SHAPES) + ("yellow",) if a != truth], 2)
            human = [truth] * 7 + [rng.choice([f"the {truth}", f"{truth}.", truth.upper()])] + others
            qid = first_question_id + 10 * k + q
            questions.append({"image_id": k, "question": text, "question_id": qid})
            annotations.append({"question_id": qid, "image_id": k, "multiple_choice_answer": truth,
                                "answer_type": "other", "question_type": "what color" if q == 0 else "what",
                                "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": j + 1}
                                            for j, a in enumerate(human)]})
    return {"questions": questions}, {"annotations": annotations}


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)
    return str(path)


@pytest.fixture(scope="module")
def vqa(tmp_path_factory):
    root = tmp_path_factory.mktemp("vqa")
    rng = random.Random(0)
    write_scene_store(str(root / "regions"), [TEMPLATE.format(k) for k in range(NUM_TRAIN + NUM_VALID)])
    files = {}
    for split, images, first in (("train", range(NUM_TRAIN), 0), ("valid", range(NUM_TRAIN, NUM_TRAIN + NUM_VALID), 1)):
        questions, annotations = official_files(images, first, rng)
        files[split] = (write_json(root / f"v2_OpenEnded_mscoco_{split}_questions.json", questions),
                        write_json(root / f"v2_mscoco_{split}_annotations.json", annotations))
    bpe, bpe_args, dict_path = make_bpe(list(QUESTIONS) + ["is there a dog in the picture?"], str(root / "bpe"))
    paths = {"root": root, "store": str(root / "regions"), "files": files, "bpe_args": bpe_args, "dict": dict_path,
             "data": str(root / "data")}
    prepare(paths, paths["data"], ["--split", "test-dev", files["valid"][0], "--min-answer-count", "3"])
    return paths


def prepare(vqa, output, extra, splits=("train", "valid")):
    args = ["--region-store", vqa["store"], "--output-dir", output, "--image-id-template", TEMPLATE,
            "--dict", vqa["dict"], *vqa["bpe_args"]]
    for split in splits:
        args += ["--split", split, *vqa["files"][split]]
    prepare_main(args + extra)


def test_answer_vocabulary_soft_scores_and_records(vqa):
    data = vqa["data"]
    # most frequent first (each shape is the answer 45 times, each colour 30), ties alphabetical;
    # "yellow" is never the question's answer
    assert read_labels(data) == ["circle", "square", "blue", "green", "red"]
    soft = np.load(os.path.join(data, "train.soft_targets.npz"))
    with open(vqa["files"]["train"][1]) as f:
        first = json.load(f)["annotations"][0]
    humans = [normalize_answer(a["answer"]) for a in first["answers"]]
    labels = read_labels(data)
    got = {labels[k]: s for k, s in zip(soft["labels"][:soft["offsets"][1]], soft["scores"][:soft["offsets"][1]])}
    expected = {a: min(humans.count(a) / 3, 1) for a in set(humans) if a in labels}
    assert got == pytest.approx(expected) and max(got.values()) == 1 and len(got) >= 2
    assert read_records(data, "valid")[0]["question_id"] == 1 + 10 * NUM_TRAIN
    assert not os.path.exists(os.path.join(data, "test-dev.soft_targets.npz"))


@pytest.mark.slow
def test_vqa_learns_and_evaluation_matches_hand_computation(vqa, tmp_path, capsys):
    run_cli(finetune_command(vqa["data"], tmp_path / "ckpt", "unimo_vqa", "unimo_soft_bce", 300, "--max-regions", "8"))
    checkpoint = str(tmp_path / "ckpt" / "checkpoint_last.pt")
    results = str(tmp_path / "val_results.json")
    accuracy = evaluate_main([checkpoint, "--data", vqa["data"], "--split", "valid", "--results", results,
                              "--no-progress", "--cpu"])
    printed = float(re.search(r"VQA accuracy on .*: ([\d.]+)", capsys.readouterr().out).group(1))
    with open(results) as f:
        predictions = json.load(f)
    with open(vqa["files"]["valid"][1]) as f:
        annotations = {a["question_id"]: a for a in json.load(f)["annotations"]}
    # by hand: the truth (8 of 10 humans after normalisation) scores 1; an answer one human gave scores
    # 9/10 * 1/3 (it counts in the 9 leave-one-out subsets without that human); any other answer 0
    by_hand = []
    for p in predictions:
        humans = [a["answer"] for a in annotations[p["question_id"]]["answers"]]
        truth = annotations[p["question_id"]]["multiple_choice_answer"]
        by_hand.append(1.0 if p["answer"] == truth else 0.3 if p["answer"] in humans else 0.0)
    assert len(predictions) == 2 * NUM_VALID
    assert accuracy == printed == pytest.approx(round(100 * np.mean(by_hand), 2))
    assert accuracy > 75, accuracy  # a guess of the question type's likeliest answer scores about 42

    evaluate_main([checkpoint, "--data", vqa["data"], "--split", "test-dev", "--results", results, "--no-progress",
                   "--cpu"])
    assert "no annotations" in capsys.readouterr().out
    with open(results) as f:
        assert [p["question_id"] for p in json.load(f)] == [a for a in annotations]


def test_official_accuracy_by_hand():
    # humans disagree, so answers are normalised: "two" -> "2", giving 3 of 10 for "2"; dropping one of
    # those 3 leaves 2 matches (2/3), dropping any of the other 7 leaves 3 (1): (3 * 2/3 + 7) / 10
    assert vqa_accuracy("2", ["2", "2", "two"] + ["3"] * 7) == pytest.approx(0.9)
    assert vqa_accuracy("a Dog!", ["dog"] * 2 + ["cat"] * 8) == pytest.approx((2 * 1 / 3 + 8 * 2 / 3) / 10)
    # as in the official script, unanimous humans are not normalised
    assert vqa_accuracy("2", ["two"] * 10) == 0.0 and vqa_accuracy("two ", ["two"] * 10) == 1.0
    assert normalize_answer("The cat's toys, (none)") == "cat's toys 0"
    assert normalize_answer("dont know.") == "don't know"


def unknown_image(questions, annotations):
    questions[4]["image_id"] = annotations[4]["image_id"] = 999


def missing_question_text(questions, annotations):
    del questions[2]["question"]


def missing_answers(questions, annotations):
    del annotations[1]["answers"]


def unannotated_question(questions, annotations):
    del annotations[3]


def other_image_annotated(questions, annotations):
    annotations[0]["image_id"] = 2


@pytest.mark.parametrize("corrupt, message", [
    (unknown_image, "q.json: questions[4]: image 'COCO_000000000999' is not in region store"),
    (missing_question_text, "q.json: questions[2]: missing or invalid field 'question'"),
    (missing_answers, "a.json: annotations[1]: missing or invalid field 'answers'"),
    (unannotated_question, "q.json: questions[3]: question 11 has no annotation"),
    (other_image_annotated, "q.json: questions[0]: question 0 is about image 0 but annotated with 2"),
])
def test_bad_records_are_reported(vqa, tmp_path, capsys, corrupt, message):
    questions, annotations = official_files(range(3), 0, random.Random(1))
    corrupt(questions["questions"], annotations["annotations"])
    files = (write_json(tmp_path / "q.json", questions), write_json(tmp_path / "a.json", annotations))
    with pytest.raises(SystemExit):
        prepare(dict(vqa, files={"train": files}), str(tmp_path / "out"), ["--min-answer-count", "1"], splits=("train",))
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out")
