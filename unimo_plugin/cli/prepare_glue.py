"""Prepare a GLUE task for --task unimo_sentence_prediction: sentences (BPE + dictionary as in
pretraining) and labels from the task's TSV files.

  unimo-prepare-glue --task MNLI --glue-dir glue_data/MNLI --output-dir data-bin/MNLI \\
      --dict dict.txt --gpt2-encoder-json encoder.json --gpt2-vocab-bpe vocab.bpe

Splits: train.tsv -> train, dev.tsv -> valid, test.tsv -> test (unlabeled); MNLI: dev_matched -> valid,
dev_mismatched -> valid_mismatched, test_matched -> test, test_mismatched -> test_mismatched.
"""
from ..formats.glue_tasks import GLUE_TASKS
from ..formats.labeled_sets import write_labeled_splits
from ..preprocess.finetune.glue_sources import read_glue_dir
from .labeled_args import add_labeled_output_args, print_labeled_summary
from .runner import bad_input_exits, command_parser, run
from .shared_args import bpe_config


def get_parser():
    parser = command_parser("unimo-prepare-glue", __doc__)
    parser.add_argument("--task", choices=sorted(GLUE_TASKS), required=True, help="which GLUE task")
    parser.add_argument("--glue-dir", metavar="DIR", required=True, help="the task's folder of GLUE TSV files")
    return add_labeled_output_args(parser)


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    task = GLUE_TASKS[args.task]
    with bad_input_exits(parser):
        splits = read_glue_dir(args.glue_dir, args.task)
        manifest = write_labeled_splits(args.output_dir, args.task, splits, task.target_kind, task.labels, args.dict,
                                        bpe_config(args), workers=args.workers, glue_dir=args.glue_dir)
    print_labeled_summary(manifest)


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
