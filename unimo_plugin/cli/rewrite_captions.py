"""Phrase- and word-level hard negatives for CMCL: each caption of a split rewritten with ONE object,
attribute or relation of its scene graph swapped for a typed replacement from the corpus (an attribute of
the same type, a co-hyponym noun, a contradicting relation), and rewrites that an n-gram model of the
true captions could tell from them dropped (see unimo_plugin/preprocess/cmcl/scene_graph/). Writes PAIRS/SPLIT.cmcl_raw.negatives.scene_graph.jsonl
(one line per caption of PAIRS/SPLIT.captions.jsonl, items {"text", "level", "swapped"}), which
build_cmcl_sidecars.py picks up with the other negatives.

Examples::

    unimo-rewrite-captions --pairs data/coco --split train --workers 2 --dump 10
    unimo-rewrite-captions --pairs data/coco --split test --vocab-from train
    unimo-rewrite-captions --pairs data/cc --split train --num-shards 8 --shard-id 3
    unimo-rewrite-captions --pairs data/cc --split train --num-shards 8 --merge
"""
from ..preprocess.cmcl.scene_graph.parse import DEFAULT_SPACY_MODEL
from ..preprocess.cmcl.scene_graph.plausibility import MODELS
from ..preprocess.cmcl.scene_graph.run import dump_lines, report_lines, rewrite_split
from .runner import bad_input_exits, command_parser, run
from .shared_args import add_run_args

EPILOG = """\
Without --shard-id, every shard runs in turn in this process. Outputs are atomic: a file appears
with its OUTPUT.manifest.json only when complete, so rerunning the same command resumes an
interrupted run. The vocabulary is saved as OUTPUT.vocab.json and reused by later shards; for a
run on several machines, run one shard first (or accept that each shard builds it once).
Malformed input is reported as FILE:LINE: reason."""


def get_parser():
    parser = command_parser("unimo-rewrite-captions", __doc__, epilog=EPILOG)
    parser.add_argument("--pairs", required=True, metavar="DIR", help="folder of SPLIT.captions.jsonl")
    parser.add_argument("--split", required=True, help="caption split to rewrite (e.g. train)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="default: PAIRS/SPLIT.cmcl_raw.negatives.scene_graph.jsonl")
    parser.add_argument("--per-caption", type=int, default=3, metavar="K",
                        help="negatives per caption, each swapping one element (default: %(default)s)")
    parser.add_argument("--vocab-from", metavar="SPLIT",
                        help="draw replacements from this split of PAIRS (or a .captions.jsonl file) instead "
                             "of SPLIT itself, e.g. train for a small test split")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default: %(default)s)")
    parser.add_argument("--spacy-model", default=DEFAULT_SPACY_MODEL,
                        help="spaCy pipeline SceneGraphParser runs on (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=256,
                        help="captions per nlp.pipe batch and per worker task (default: %(default)s)")
    parser.add_argument("--plausibility", choices=MODELS, default="ngram",
                        help="text model that drops rewrites text alone could spot: an n-gram model of the "
                             "vocabulary split's captions, or none (default: %(default)s)")
    parser.add_argument("--lm-order", type=int, default=3, metavar="N",
                        help="--plausibility ngram: the model's order (default: %(default)s)")
    parser.add_argument("--plausibility-target", type=float, default=0.5, metavar="P",
                        help="--plausibility ngram: the most of kept rewrites the model may score below their "
                             "caption (default: %(default)s, chance)")
    parser.add_argument("--dump", type=int, default=0, metavar="N",
                        help="print N originals beside their rewrites")
    return add_run_args(parser)


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.per_caption < 1 or args.batch_size < 1 or args.workers < 1 or args.lm_order < 1:
        parser.error("--per-caption, --batch-size, --workers and --lm-order must be >= 1")
    if not 0 < args.plausibility_target < 1:
        parser.error(f"--plausibility-target is a share in (0, 1), got {args.plausibility_target}")
    with bad_input_exits(parser):
        report = rewrite_split(
            args.pairs, args.split, output=args.output, per_caption=args.per_caption, seed=args.seed,
            vocab_from=args.vocab_from, spacy_model=args.spacy_model, batch_size=args.batch_size,
            workers=args.workers, num_shards=args.num_shards, shard_id=args.shard_id, merge=args.merge,
            overwrite=args.overwrite, dump=args.dump, progress=not args.no_progress, plausibility=args.plausibility,
            lm_order=args.lm_order, plausibility_target=args.plausibility_target)
    if report.examples:
        print(f"{len(report.examples)} captions and their rewrites:")
        print("\n".join(dump_lines(report.examples)))
    print("\n".join(report_lines(report)))


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
