"""VQA accuracy of a ``unimo_vqa`` checkpoint, computed as the official VQA evaluation does, and
its predictions in the official results format (``[{"question_id": int, "answer": str}]``).

    python -m unimo_plugin.evaluation.vqa CHECKPOINT --data DATA --split valid --results val_results.json

A split without annotations (test-dev, test) only gets the results file, for the evaluation server.
"""
import argparse
import json
from collections import defaultdict

from ..common.artifacts import atomic_output
from ..formats.labeled_sets import read_records
from ..formats.vqa_answers import clean, process_digit_article, process_punctuation
from .labeled_predictions import add_evaluation_args, load_finetuned, predict_split


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_evaluation_args(parser)
    parser.add_argument("--results", help="write the predictions here, in the official results format")
    args = parser.parse_args(argv)
    model, task = load_finetuned(args)
    logits, _ = predict_split(model, task, args.split, args.batch_size, not args.no_progress)
    answers = [task.labels[i] for i in logits.argmax(-1).tolist()]
    records = read_records(task.data_dir, args.split)
    if args.results:
        write_results(args.results, answers, records)
        print(f"wrote {len(answers)} answers to {args.results}")
    if not all("answers" in r for r in records):
        print(f"{args.split} has no annotations: no accuracy")
        return None
    overall, per_type = overall_accuracy(answers, records)
    print(f"VQA accuracy on {task.data_dir}/{args.split}: {overall:.2f} ({len(records)} questions)")
    for answer_type, accuracy in per_type.items():
        print(f"  {answer_type}: {accuracy:.2f}")
    return overall


if __name__ == "__main__":
    main()
