#!/usr/bin/env python
"""Prepare a GLUE task for --task unimo_sentence_prediction: sentences (BPE + dictionary as in
pretraining) and labels from the task's TSV files.

  python data_scripts/prepare_glue.py --task MNLI --glue-dir glue_data/MNLI --output-dir data-bin/MNLI \\
      --dict dict.txt --gpt2-encoder-json encoder.json --gpt2-vocab-bpe vocab.bpe

Splits: train.tsv -> train, dev.tsv -> valid, test.tsv -> test (unlabeled); MNLI: dev_matched -> valid,
dev_mismatched -> valid_mismatched, test_matched -> test, test_mismatched -> test_mismatched.
"""
import argparse
import logging
import sys

from unimo_plugin.cli.labeled_args import add_labeled_output_args, print_labeled_summary
from unimo_plugin.common.artifacts import InputError
from unimo_plugin.formats.bpe import bpe_config
from unimo_plugin.formats.labeled_sets import write_labeled_splits
from unimo_plugin.preprocess.finetune.glue_sources import GLUE_TASKS, read_glue_dir


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(GLUE_TASKS), required=True, help="which GLUE task")
    parser.add_argument("--glue-dir", metavar="DIR", required=True, help="the task's folder of GLUE TSV files")
    return add_labeled_output_args(parser)


def main(argv=None):
    logging.basicConfig(format="%(asctime)s | %(levelname)s | %(name)s | %(message)s", level=logging.INFO)
    parser = get_parser()
    args = parser.parse_args(argv)
    task = GLUE_TASKS[args.task]
    try:
        splits = read_glue_dir(args.glue_dir, args.task)
        manifest = write_labeled_splits(args.output_dir, args.task, splits, task.target_kind, task.labels, args.dict,
                                        bpe_config(args), workers=args.workers, glue_dir=args.glue_dir)
    except (InputError, ValueError, FileNotFoundError) as e:
        parser.exit(1, f"{parser.prog}: error: {e}\n")
    print_labeled_summary(manifest)


if __name__ == "__main__":
    sys.exit(main())
