"""Prepare SNLI-VE for --task unimo_snli_ve: hypotheses (BPE + dictionary as in pretraining), the
region-store row of each premise image and the gold label (entailment, neutral, contradiction).

  unimo-prepare-snli-ve --region-store regions/flickr30k --output-dir data-bin/snli_ve \\
      --split train snli_ve_train.jsonl --split valid snli_ve_dev.jsonl --split test snli_ve_test.jsonl \\
      --dict dict.txt --gpt2-encoder-json encoder.json --gpt2-vocab-bpe vocab.bpe

An image's region-store id is the stem of its Flikr30kID ("1234.jpg" -> "1234").
"""
from ..formats.labeled_sets import write_labeled_splits
from ..preprocess.finetune.snli_ve_sources import LABELS, read_snli_ve
from .labeled_args import add_labeled_output_args, print_labeled_summary
from .runner import bad_input_exits, command_parser, run
from .shared_args import bpe_config


def get_parser():
    parser = command_parser("unimo-prepare-snli-ve", __doc__)
    parser.add_argument("--split", nargs=2, action="append", required=True, metavar=("NAME", "JSONL"),
                        help="a split name (train, valid, test) and its snli_ve_*.jsonl file; repeat per split")
    parser.add_argument("--region-store", metavar="DIR", required=True, help="region store of the Flickr30k images")
    return add_labeled_output_args(parser)


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser):
        splits = {name: read_snli_ve(path) for name, path in args.split}
        manifest = write_labeled_splits(args.output_dir, "snli_ve", splits, "class", LABELS, args.dict,
                                        bpe_config(args), args.region_store, args.workers,
                                        sources=dict(args.split))
    print_labeled_summary(manifest)


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
