"""Prepare VQA v2 for --task unimo_vqa: questions (BPE + dictionary as in pretraining), the region-store
row of each image, a vocabulary of frequent answers (labels.txt) and each question's soft scores
min(#annotators / 3, 1) over it; records keep question ids and human answers for the evaluation.

  unimo-prepare-vqa --region-store regions/coco --output-dir data-bin/vqa \\
      --split train v2_OpenEnded_mscoco_train2014_questions.json v2_mscoco_train2014_annotations.json \\
      --split valid v2_OpenEnded_mscoco_val2014_questions.json v2_mscoco_val2014_annotations.json \\
      --split test-dev v2_OpenEnded_mscoco_test-dev2015_questions.json \\
      --dict dict.txt --gpt2-encoder-json encoder.json --gpt2-vocab-bpe vocab.bpe

Answers are normalised with the official evaluation's rules. The region-store id of an image is
--image-id-template filled with its COCO id: "{}" for bottom-up-attention TSV imports (numeric ids),
"COCO_train2014_{:012d}" etc. for stores extracted from the image files (one template per --split).
"""
from ..formats.labeled_sets import write_labeled_splits
from ..preprocess.finetune.vqa_sources import assign_soft_targets, build_answer_vocabulary, read_vqa_split
from .labeled_args import add_labeled_output_args, print_labeled_summary
from .runner import bad_input_exits, command_parser, run
from .shared_args import bpe_config


def get_parser():
    parser = command_parser("unimo-prepare-vqa", __doc__)
    parser.add_argument("--split", nargs="+", action="append", required=True,
                        metavar=("NAME QUESTIONS", "ANNOTATIONS"),
                        help="a split: its name (train, valid, test-dev, ...), the questions JSON and, when "
                             "annotated, the annotations JSON; repeat for each split")
    parser.add_argument("--region-store", metavar="DIR", required=True, help="region store of the COCO images")
    parser.add_argument("--image-id-template", nargs="+", default=["{}"], metavar="TEMPLATE",
                        help="region-store id of COCO image id N, as a Python format string: one for every "
                             "split or one per --split (default: '{}')")
    parser.add_argument("--answer-splits", nargs="+", default=["train"], metavar="NAME",
                        help="splits whose multiple_choice_answer counts build the answer vocabulary")
    parser.add_argument("--min-answer-count", type=int, default=9,
                        help="answers given as multiple_choice_answer at least this often are the classes "
                             "(9 over --answer-splits train valid is the bottom-up-attention recipe of the "
                             "common 3,129-answer vocabulary)")
    parser.add_argument("--answers", metavar="FILE",
                        help="use this answer vocabulary (one answer per line, e.g. another run's labels.txt) "
                             "instead of building one")
    return add_labeled_output_args(parser)


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if any(len(s) not in (2, 3) for s in args.split):
        parser.error("--split takes NAME QUESTIONS [ANNOTATIONS]")
    templates = args.image_id_template
    if len(templates) not in (1, len(args.split)):
        parser.error("--image-id-template takes one template or one per --split")
    with bad_input_exits(parser):
        splits = {spec[0]: read_vqa_split(spec[1], spec[2] if len(spec) == 3 else None,
                                          templates[min(k, len(templates) - 1)])
                  for k, spec in enumerate(args.split)}
        if args.answers:
            with open(args.answers, encoding="utf-8") as f:
                vocabulary = f.read().split("\n")[:-1]
        else:
            unknown = [s for s in args.answer_splits if s not in splits]
            if unknown:
                parser.error(f"--answer-splits {' '.join(unknown)}: not among the --split names")
            vocabulary = build_answer_vocabulary([splits[s] for s in args.answer_splits], args.min_answer_count)
        if not vocabulary:
            parser.error("the answer vocabulary is empty: lower --min-answer-count")
        uncovered = {name: assign_soft_targets(examples, vocabulary) for name, examples in splits.items()}
        manifest = write_labeled_splits(
            args.output_dir, "vqa", splits, "soft", vocabulary, args.dict, bpe_config(args), args.region_store,
            args.workers, questions_without_vocabulary_answer=uncovered, min_answer_count=args.min_answer_count,
            sources={spec[0]: spec[1:] for spec in args.split})
    print_labeled_summary(manifest)
    print(f"{len(vocabulary)} answers; questions with none of them: {uncovered}")


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
