"""VQA accuracy of a ``unimo_vqa`` checkpoint, computed as the official VQA evaluation does, and
its predictions in the official results format (``[{"question_id": int, "answer": str}]``)
(``unimo-eval-vqa``)."""
import json
from collections import defaultdict

from ..common.artifacts import atomic_output
from ..formats.labeled_sets import read_records
from ..formats.vqa_answers import clean, process_digit_article, process_punctuation
from .labeled_predictions import predict_split


def vqa_accuracy(answer, human_answers):
    """The official per-question accuracy: over each leave-one-out subset of the human answers,
    min(#matches / 3, 1), averaged. As in the official script, answers are normalised only when
    the humans disagree."""
    answer, humans = clean(answer), [clean(a) for a in human_answers]
    if len(set(humans)) > 1:
        humans = [process_digit_article(process_punctuation(a)) for a in humans]
        answer = process_digit_article(process_punctuation(answer))
    matches = [min(1.0, sum(a == answer for a in humans[:i] + humans[i + 1:]) / 3) for i in range(len(humans))]
    return sum(matches) / len(matches)


def overall_accuracy(answers, records):
    """(overall, {answer_type: accuracy}) in %, rounded to 2 decimals like the official script."""
    by_type = defaultdict(list)
    scores = []
    for answer, record in zip(answers, records):
        score = vqa_accuracy(answer, record["answers"])
        scores.append(score)
        by_type[record.get("answer_type") or "all"].append(score)
    per_type = {t: round(100 * sum(s) / len(s), 2) for t, s in sorted(by_type.items())}
    return round(100 * sum(scores) / len(scores), 2), per_type


def write_results(path, answers, records):
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump([{"question_id": r["question_id"], "answer": a} for a, r in zip(answers, records)], f)


def evaluate_split(model, task, split, batch_size=64, progress=True):
    """The predicted answer of each question of ``split`` in item order, the split's records, and the
    accuracy as :func:`overall_accuracy` gives it (None for a split without annotations)."""
    logits, _ = predict_split(model, task, split, batch_size, progress)
    answers = [task.labels[i] for i in logits.argmax(-1).tolist()]
    records = read_records(task.data_dir, split)
    if not all("answers" in r for r in records):
        return answers, records, None
    return answers, records, overall_accuracy(answers, records)


if __name__ == "__main__":  # the command moved; say where instead of doing nothing
    raise SystemExit("this is a library module now: run unimo-eval-vqa (or python -m unimo_plugin.cli.eval_vqa)")
