"""Encode the CMCL rewriting/retrieval outputs of a caption split into the sidecars unimo_pretrain reads.

    unimo-build-cmcl-sidecars --pairs DATA/pairs --split train --dict DATA/dict.txt \\
        --gpt2-encoder-json encoder.json --gpt2-vocab-bpe vocab.bpe

By default every ``{split}.cmcl_raw.{paraphrases,negatives,texts,images}*.jsonl`` beside the captions is
used (several negatives files, e.g. TF-IDF and scene-graph ones, are merged); ``--paraphrases`` etc.
name files explicitly. Use the BPE and dictionary the captions were binarized with.
"""
from ..preprocess.cmcl.sidecar_builder import FIELDS, build_cmcl_sidecars, default_inputs
from .runner import bad_input_exits, command_parser, run
from .shared_args import add_bpe_args, bpe_config


def get_parser():
    parser = command_parser("unimo-build-cmcl-sidecars", __doc__)
    parser.add_argument("--pairs", required=True, metavar="DIR", help="caption dataset dir (binarize_captions.py)")
    parser.add_argument("--split", required=True, help="caption split, e.g. train")
    parser.add_argument("--dict", required=True, metavar="FILE", help="the dict.txt the captions were binarized with")
    for kind in FIELDS:
        parser.add_argument(f"--{kind}", nargs="+", metavar="FILE",
                            help=f"cmcl_raw files of {kind} (default: PAIRS/SPLIT.cmcl_raw.{kind}*.jsonl)")
    return add_bpe_args(parser)


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    defaults = default_inputs(args.pairs, args.split)
    inputs = {kind: getattr(args, kind) or defaults[kind] for kind in FIELDS}
    with bad_input_exits(parser):
        manifest = build_cmcl_sidecars(args.pairs, args.split, args.dict, bpe_config(args), inputs)
    for kind, stats in manifest["kinds"].items():
        print(f"{args.split} {kind}: {stats['items']} items, {stats['captions_with_items']} of "
              f"{manifest['captions']} captions with at least one ({len(stats['files'])} file(s))")


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
