"""Compositional evaluation of a UNIMO checkpoint: for each image, its true caption and a caption with one
thing swapped, is the CMCL similarity (cosine of the pooled [IMG] and the pooled <s>, each modality
encoded alone) higher for the true caption? Prints the accuracy per category beside chance (50%), and
the same with every image replaced by the mean image (what text alone decides; 50% when grounded).

Examples::

    unimo-eval-compositional CHECKPOINT --items sugarcrepe/ --regions coco_val2017_regions
    unimo-eval-compositional CHECKPOINT --items visual_genome_relation.json --format aro-relation \\
        --regions vg_regions
    unimo-make-sample-swaps --scenes sample_data/raw/dataset_sample.json --split test --out swaps
    unimo-eval-compositional demo_work/checkpoints/checkpoint_last.pt --items swaps \\
        --regions sample_data/pair_regions
"""
import json

from ..evaluation.compositional import FORMATS, evaluate_compositional, report_lines
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-eval-compositional", __doc__)
    parser.add_argument("checkpoint", help="a unimo checkpoint (e.g. checkpoints/checkpoint_last.pt)")
    parser.add_argument("--items", required=True, metavar="PATH",
                        help="SugarCrepe: a folder of category files (replace_att.json, ...) or one of them; "
                             "ARO: the VG-Relation or VG-Attribution JSON file")
    parser.add_argument("--format", choices=FORMATS, default="sugarcrepe", help="(default: %(default)s)")
    parser.add_argument("--regions", required=True, metavar="STORE",
                        help="region store of the images (ids: the file name, without extension, or as a number)")
    parser.add_argument("--data", metavar="DIR", help="the DATA dir of the checkpoint's dict.txt (default: its own)")
    parser.add_argument("--max-regions", type=int, default=100, help="regions kept per image (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="images or texts per forward pass")
    parser.add_argument("--json", metavar="FILE", help="also write the accuracies as JSON")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.max_regions < 1 or args.batch_size < 1:
        parser.error("--max-regions and --batch-size must be >= 1")
    with bad_input_exits(parser):
        results, missing = evaluate_compositional(args.checkpoint, args.items, args.format, args.regions, args.data,
                                                  args.max_regions, args.batch_size)
        if not results:
            raise ValueError(f"{args.items}: none of the {missing} items has its image in region store {args.regions}")
    print(f"compositional evaluation of {args.checkpoint} on {args.items} (CMCL similarity, ties count 1/2)")
    print("\n".join(report_lines(results, missing)))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"missing": missing, "categories": {c: r._asdict() for c, r in results.items()}}, f, indent=1)
    return results


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
