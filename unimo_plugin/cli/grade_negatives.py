"""Grade the CMCL hard negatives of a caption split against a ground-truth oracle: per level and kind, the
share of valid negatives (well-formed and false of the image), false negatives (true of the image) and
malformed ones, and the blind-text accuracy (how often an n-gram model of the split's true captions
scores the caption above its negative; 50% = text alone cannot tell them apart). Then the rewrites'
(phrase and word levels) figures against the targets: valid >= 90%, false negatives <= 2%,
malformed <= 5%, blind-text accuracy <= 60%, a rewrite for >= 90% of captions.

An oracle judges any text against any image: "sample" is the sample data's (its scenes are generated,
so every text's truth is known; --scenes names its dataset_sample.json, by default PAIRS/../raw/);
MODULE:CALLABLE names any other, called with the --oracle-arg values, returning an object with
judge(image_id, text) -> "true" | "false" | "malformed".

Examples::

    unimo-grade-negatives --pairs sample_data/pairs --split train
    unimo-grade-negatives --pairs sample_data/pairs --split train --show --json grades.json \\
        --negatives sample_data/pairs/train.cmcl_raw.negatives.scene_graph.jsonl
    unimo-grade-negatives --pairs data/pairs --split test --oracle my_project.truth:Oracle --oracle-arg scenes.json
"""
import importlib
import json
import os

from ..evaluation.negatives import grade_negatives, report_json, report_lines
from ..formats.caption_sets import read_caption_records
from ..formats.cmcl_candidates import cmcl_raw_path, read_cmcl_raw
from ..testing.sample_oracle import SampleOracle
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-grade-negatives", __doc__)
    parser.add_argument("--pairs", required=True, metavar="DIR", help="folder of SPLIT.captions.jsonl")
    parser.add_argument("--split", required=True, help="caption split whose negatives are graded")
    parser.add_argument("--negatives", nargs="+", metavar="FILE",
                        help="cmcl_raw negatives files (default: every PAIRS/SPLIT.cmcl_raw.negatives*.jsonl)")
    parser.add_argument("--oracle", default="sample", metavar="sample|MODULE:CALLABLE",
                        help="the ground truth (default: %(default)s)")
    parser.add_argument("--scenes", metavar="FILE",
                        help="--oracle sample: the build's dataset_sample.json (default: PAIRS/../raw/dataset_sample.json)")
    parser.add_argument("--oracle-arg", action="append", default=[], metavar="VALUE",
                        help="an argument of a MODULE:CALLABLE oracle (repeatable)")
    parser.add_argument("--lm-order", type=int, nargs="+", default=[2, 3], metavar="N",
                        help="orders of the blind-text n-gram models (default: %(default)s)")
    parser.add_argument("--show", action="store_true", help="print examples of false negatives and malformed ones")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    return parser


def load_oracle(spec, pairs, scenes, args):
    """The oracle ``--oracle`` names: the sample data's, or MODULE:CALLABLE called with ``args``."""
    if spec == "sample":
        path = scenes or os.path.join(os.path.dirname(os.path.abspath(pairs)), "raw", "dataset_sample.json")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no sample scenes (pass --scenes)")
        return SampleOracle(path)
    module, _, name = spec.partition(":")
    if not name:
        raise ValueError(f"--oracle {spec!r}: expected 'sample' or MODULE:CALLABLE")
    return getattr(importlib.import_module(module), name)(*args)


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if min(args.lm_order) < 1:
        parser.error("--lm-order must be >= 1")
    with bad_input_exits(parser):
        captions = read_caption_records(args.pairs, args.split)
        files = args.negatives or sorted(
            f for f in (os.path.join(args.pairs, name) for name in os.listdir(args.pairs))
            if f.startswith(cmcl_raw_path(args.pairs, args.split, "negatives")[:-len(".jsonl")])
            and f.endswith(".jsonl"))
        if not files:
            raise FileNotFoundError(f"no {args.split}.cmcl_raw.negatives*.jsonl in {args.pairs} (pass --negatives)")
        negatives = [[] for _ in captions]
        for path in files:
            for mine, items in zip(negatives, read_cmcl_raw(path, captions, "text")):
                mine.extend(items)
        oracle = load_oracle(args.oracle, args.pairs, args.scenes, args.oracle_arg)
        report = grade_negatives(captions, negatives, oracle, args.lm_order)
    print(f"{len(captions)} captions of {os.path.join(args.pairs, args.split)}; negatives from "
          + ", ".join(os.path.basename(f) for f in files))
    print("\n".join(report_lines(report, args.show)))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report_json(report), f, indent=1)
    return report


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
