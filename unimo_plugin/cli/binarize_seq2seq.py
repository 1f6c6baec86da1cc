"""Binarize ``RAW/{split}.source`` / ``RAW/{split}.target`` pairs for ``--task unimo_seq2seq``.

The layout of CNN/DailyMail, Gigaword, SQuAD question generation and CoQA releases (as in fairseq's
BART examples): line i of the source pairs with line i of the target.

  unimo-binarize-seq2seq --raw-dir cnn_dm --splits train valid test --output data-bin/cnn_dm \\
      --dict dict.txt --gpt2-encoder-json encoder.json --gpt2-vocab-bpe vocab.bpe --workers 8
"""
from ..preprocess.text.seq2seq_binarizer import binarize_seq2seq
from .runner import bad_input_exits, command_parser, run
from .shared_args import add_bpe_args, bpe_config


def get_parser():
    parser = command_parser("unimo-binarize-seq2seq", __doc__)
    parser.add_argument("--raw-dir", required=True, metavar="DIR", help="holds {split}.source and {split}.target")
    parser.add_argument("--splits", nargs="+", default=["train", "valid", "test"], help="splits to binarize")
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="DATA dir for fairseq-train/fairseq-generate (DIR.manifest.json marks it finished)")
    parser.add_argument("--dict", required=True, metavar="FILE", help="fairseq dict.txt (RoBERTa's for real runs)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes for BPE encoding")
    add_bpe_args(parser)
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser):
        manifest = binarize_seq2seq(args.raw_dir, args.splits, args.output, args.dict, bpe_config(args),
                                    workers=args.workers)
    for name, counts in manifest["datasets"].items():
        print(f"{name}: {counts['sequences']} texts, {counts['tokens']} tokens, "
              f"{counts['replaced_by_unk']} replaced by <unk>")


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
