#!/usr/bin/env python
"""Prepare SNLI-VE for --task unimo_snli_ve: hypotheses (BPE + dictionary as in pretraining), the
region-store row of each premise image and the gold label (entailment, neutral, contradiction).

  python data_scripts/prepare_snli_ve.py --region-store regions/flickr30k --output-dir data-bin/snli_ve \\
      --split train snli_ve_train.jsonl --split valid snli_ve_dev.jsonl --split test snli_ve_test.jsonl \\
      --dict dict.txt --gpt2-encoder-json encoder.json --gpt2-vocab-bpe vocab.bpe

An image's region-store id is the stem of its Flikr30kID ("1234.jpg" -> "1234").
"""
import argparse
import logging
import sys

from unimo_plugin.cli.labeled_args import add_labeled_output_args, print_labeled_summary
from unimo_plugin.common.artifacts import InputError
from unimo_plugin.formats.bpe import bpe_config
from unimo_plugin.formats.labeled_sets import write_labeled_splits
from unimo_plugin.preprocess.finetune.snli_ve_sources import LABELS, read_snli_ve


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", nargs=2, action="append", required=True, metavar=("NAME", "JSONL"),
                        help="a split name (train, valid, test) and its snli_ve_*.jsonl file; repeat per split")
    parser.add_argument("--region-store", metavar="DIR", required=True, help="region store of the Flickr30k images")
    return add_labeled_output_args(parser)


def main(argv=None):
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", level=logging.INFO)
    parser = get_parser()
    args = parser.parse_args(argv)
    try:
        splits = {name: read_snli_ve(path) for name, path in args.split}
        manifest = write_labeled_splits(args.output_dir, "snli_ve", splits, "class", LABELS, args.dict,
                                        bpe_config(args), args.region_store, args.workers,
                                        sources=dict(args.split))
    except (InputError, ValueError, FileNotFoundError) as e:
        parser.exit(1, f"{parser.prog}: error: {e}\n")
    print_labeled_summary(manifest)


if __name__ == "__main__":
    sys.exit(main())
