#!/usr/bin/env python
"""Encode the CMCL rewriting/retrieval outputs of a caption split into the sidecars unimo_pretrain reads.

    python data_scripts/build_cmcl_sidecars.py --pairs DATA/pairs --split train --dict DATA/dict.txt \\
        --gpt2-encoder-json encoder.json --gpt2-vocab-bpe vocab.bpe

By default every ``{split}.cmcl_raw.{paraphrases,negatives,texts,images}*.jsonl`` beside the captions is
used (several negatives files, e.g. TF-IDF and scene-graph ones, are merged); ``--paraphrases`` etc.
name files explicitly. Use the BPE and dictionary the captions were binarized with.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unimo_plugin.common.artifacts import InputError  # noqa: E402
from unimo_plugin.formats.bpe import add_bpe_args, bpe_config  # noqa: E402
from unimo_plugin.preprocess.cmcl.sidecar_builder import FIELDS, build_cmcl_sidecars, default_inputs  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", required=True, metavar="DIR", help="caption dataset dir (binarize_captions.py)")
    parser.add_argument("--split", required=True, help="caption split, e.g. train")
    parser.add_argument("--dict", required=True, metavar="FILE", help="the dict.txt the captions were binarized with")
    for kind in FIELDS:
        parser.add_argument(f"--{kind}", nargs="+", metavar="FILE",
                            help=f"cmcl_raw files of {kind} (default: PAIRS/SPLIT.cmcl_raw.{kind}*.jsonl)")
    add_bpe_args(parser)
    args = parser.parse_args(argv)
    defaults = default_inputs(args.pairs, args.split)
    inputs = {kind: getattr(args, kind) or defaults[kind] for kind in FIELDS}
    try:
        manifest = build_cmcl_sidecars(args.pairs, args.split, args.dict, bpe_config(args), inputs)
    except (InputError, ValueError, OSError) as e:
        sys.exit(f"build_cmcl_sidecars: error: {e}")
    for kind, stats in manifest["kinds"].items():
        print(f"{args.split} {kind}: {stats['items']} items, {stats['captions_with_items']} of "
              f"{manifest['captions']} captions with at least one ({len(stats['files'])} file(s))")


if __name__ == "__main__":
    main()
