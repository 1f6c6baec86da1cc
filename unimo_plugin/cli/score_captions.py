"""Score generated captions with the COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D; SPICE
with --spice) against every reference caption of each image, using pycocoevalcap.

GEN_OUTPUT is what fairseq-generate printed (``fairseq-generate ... > gen.txt``) or its --results-path
folder (``DIR/generate-test.txt``). The best hypothesis (first ``D-`` line) of sample id i is the caption
of image i of the split: images in the order of their first caption in PAIRS/SPLIT.captions.jsonl, the
order of the caption task's evaluation items. Every image needs a hypothesis.

--baseline random-train-caption scores, instead of a model, a random caption of the training split per
image: text of the right domain that ignores the image, the floor a model must clear.

Values are printed ×100, as papers report them (COCO Karpathy test, UNIMO-base: BLEU-4 38.8, CIDEr 124.4).

  unimo-score-captions gen.txt --pairs data-bin/coco/pairs --split test --json scores.json
  unimo-score-captions --baseline random-train-caption --pairs data-bin/coco/pairs --split test
"""
import os

from ..evaluation.caption_metrics import random_train_captions, score_captions
from ..evaluation.generate_output import generate_output_file, hypotheses_in_order, read_hypotheses
from ..evaluation.score_report import print_scores, write_scores_json
from ..formats.caption_sets import read_caption_images
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-score-captions", __doc__)
    parser.add_argument("generate_output", nargs="?", metavar="GEN_OUTPUT",
                        help="fairseq-generate's printed output, or its --results-path folder")
    parser.add_argument("--pairs", required=True, metavar="DIR",
                        help="caption dataset folder (binarize_captions.py output) with SPLIT.captions.jsonl")
    parser.add_argument("--split", default="test", help="the split that was generated (default: %(default)s)")
    parser.add_argument("--json", metavar="FILE", help="also write the scores here (atomically)")
    parser.add_argument("--spice", action="store_true",
                        help="also compute SPICE (downloads Stanford CoreNLP on first use; skipped with a "
                             "message when it cannot run)")
    parser.add_argument("--baseline", choices=["random-train-caption"],
                        help="score a baseline instead of GEN_OUTPUT: a random caption of --train-split per image")
    parser.add_argument("--train-split", default="train", help="--baseline: where its captions come from")
    parser.add_argument("--seed", type=int, default=1, help="--baseline: random seed (default: %(default)s)")
    parser.add_argument("--show", type=int, default=0, metavar="N",
                        help="also print the first N images' hypotheses beside their references")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if (args.generate_output is None) == (args.baseline is None):
        parser.error("give either GEN_OUTPUT or --baseline")
    prefix = os.path.join(args.pairs, args.split)
    with bad_input_exits(parser, RuntimeError):  # RuntimeError: no Java for the coco-caption tools
        images = read_caption_images(prefix)
        if args.baseline:
            train = read_caption_images(os.path.join(args.pairs, args.train_split))
            hypotheses = random_train_captions(train.references, len(images.image_ids), args.seed)
            source = f"baseline {args.baseline} (split {args.train_split}, seed {args.seed})"
        else:
            source = generate_output_file(args.generate_output)
            hypotheses = hypotheses_in_order(read_hypotheses(source), len(images.image_ids), source,
                                             what=f"images of {prefix}")
        scores, skipped = score_captions(hypotheses, images.references, spice=args.spice)
    num_references = sum(map(len, images.references))
    print_scores(f"{source} on {prefix}: {len(hypotheses)} images, {num_references} references", scores)
    for name, reason in skipped.items():
        print(f"{name:<12}{'skipped':>8}  ({reason})")
    for image_id, hypothesis, references in list(zip(images.image_ids, hypotheses, images.references))[:args.show]:
        print(f"\nimage {image_id}\n  generated: {hypothesis}")
        for reference in references:
            print(f"  reference: {reference}")
    if args.json:
        write_scores_json(args.json, {"hypotheses": source, "pairs": os.path.abspath(args.pairs),
                                      "split": args.split, "images": len(hypotheses),
                                      "references": num_references, "scores": scores, "skipped": skipped})
    return scores


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
