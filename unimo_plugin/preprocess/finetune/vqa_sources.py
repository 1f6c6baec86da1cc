"""VQA v2's official question and annotation JSON files -> labeled examples with soft targets.

``v2_OpenEnded_mscoco_{split}_questions.json``: ``{"questions": [{"image_id", "question",
"question_id"}]}``; ``v2_mscoco_{split}_annotations.json``: ``{"annotations": [{"question_id",
"image_id", "answers": [{"answer", "answer_confidence", "answer_id"}], "multiple_choice_answer",
...}]}`` (absent for test splits). Records are placed as ``questions[i]`` / ``annotations[i]`` in
error messages, since the official files are one JSON line.
"""
import json

from ...common.artifacts import InputError
from ...formats.labeled_sets import LabeledExample
from ...formats.vqa_answers import answer_vocabulary, soft_targets


def _load(path, key):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except ValueError as e:
        raise InputError(path, f"not JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise InputError(path, f"expected an object with a {key!r} list")
    return data[key]


def _field(path, where, record, name, kind):
    value = record.get(name) if isinstance(record, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InputError(path, f"{where}: missing or invalid field {name!r}")
    return value


def read_vqa_split(questions_path, annotations_path, image_id_template="{}"):
    """Examples in question order; without annotations they are unlabeled (``record`` has no answers).

    ``image_id_template`` maps the COCO image id (an int) to the region-store id, e.g. ``{}`` for
    bottom-up-attention TSV imports, ``COCO_val2014_{:012d}`` for stores extracted from image files.
    Targets are filled in later by :func:`assign_soft_targets`.
    """
    answers = {}
    if annotations_path is not None:
        for i, ann in enumerate(_load(annotations_path, "annotations")):
            where = f"annotations[{i}]"
            qid = _field(annotations_path, where, ann, "question_id", int)
            human = _field(annotations_path, where, ann, "answers", list)
            texts = [_field(annotations_path, f"{where}.answers[{j}]", a, "answer", str) for j, a in enumerate(human)]
            if not texts:
                raise InputError(annotations_path, f"{where}: no answers")
            answers[qid] = (texts, _field(annotations_path, where, ann, "multiple_choice_answer", str),
                            _field(annotations_path, where, ann, "image_id", int), ann.get("answer_type"))
    examples = []
    for i, q in enumerate(_load(questions_path, "questions")):
        where = f"questions[{i}]"
        qid = _field(questions_path, where, q, "question_id", int)
        image_id = _field(questions_path, where, q, "image_id", int)
        example = LabeledExample(questions_path, where, (_field(questions_path, where, q, "question", str),),
                                 image_id=image_id_template.format(image_id),
                                 record={"question_id": qid, "image_id": image_id})
        if annotations_path is not None:
            if qid not in answers:
                raise example.error(f"question {qid} has no annotation in {annotations_path}")
            human, best, annotated_image, answer_type = answers.pop(qid)
            if annotated_image != image_id:
                raise example.error(f"question {qid} is about image {image_id} but annotated with {annotated_image}")
            example.record.update(answers=human, multiple_choice_answer=best, answer_type=answer_type)
        examples.append(example)
    if answers:
        raise InputError(annotations_path, f"{len(answers)} annotations have no question in {questions_path} "
                                           f"(first: question_id {next(iter(answers))})")
    return examples


def build_answer_vocabulary(splits, min_count):
    """The frequent ``multiple_choice_answer``s over ``splits`` (lists of annotated examples)."""
    return answer_vocabulary([e.record["multiple_choice_answer"] for examples in splits for e in examples],
                             min_count)


def assign_soft_targets(examples, vocabulary):
    """Set each annotated example's target to {answer index: min(#annotators / 3, 1)}; return how many
    questions have none of their answers in the vocabulary (they train towards all zeros)."""
    index_of = {a: i for i, a in enumerate(vocabulary)}
    uncovered = 0
    for e in examples:
        if "answers" in e.record:
            e.target = soft_targets(e.record["answers"], index_of)
            uncovered += not e.target
    return uncovered
