"""Binarize a raw text corpus into a fairseq mmap dataset (OUTPUT.bin/.idx), BPE included.

The result is byte-identical to RoBERTa's recipe (multiprocessing_bpe_encoder.py --keep-empty, then
fairseq-preprocess --only-source --srcdict DICT --dataset-impl mmap) in one step. Input: one sentence
per line, a blank line between documents; or a caption file (Karpathy split JSON, image_id<TAB>caption
TSV), one item per caption. A manifest OUTPUT.bin.manifest.json marks a finished output.

  unimo-binarize-text --input wiki.train.raw --output data-bin/wiki/train \\
      --dict dict.txt --gpt2-encoder-json encoder.json --gpt2-vocab-bpe vocab.bpe --workers 8
  # on N machines: add --num-shards N --shard-id K, then merge the shards once:
  unimo-binarize-text --merge --output data-bin/wiki/train --num-shards N
"""
from ..preprocess.text.text_binarizer import binarize_text, merge_text_shards
from ..preprocess.text.text_sources import INPUT_FORMATS
from .runner import bad_input_exits, command_parser, run
from .shared_args import add_bpe_args, add_sharding_args, bpe_config


def get_parser():
    parser = command_parser("unimo-binarize-text", __doc__)
    parser.add_argument("--input", metavar="FILE", help="raw UTF-8 text, one sentence per line, or a caption file "
                                                        "(see --input-format)")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, default="auto",
                        help="format of the input: text (one sentence per line), karpathy (Karpathy split JSON such as "
                             "dataset_coco.json) or tsv (image_id<TAB>caption lines): a caption file gives one text "
                             "per caption, of every split; auto: karpathy if the file starts with '{', else text "
                             "(default: %(default)s)")
    parser.add_argument("--output", metavar="PREFIX", required=True,
                        help="output prefix: writes PREFIX.bin, PREFIX.idx and PREFIX.bin.manifest.json "
                             "(shards: PREFIX.shardK-of-N.*)")
    parser.add_argument("--dict", metavar="FILE", help="fairseq dict.txt (RoBERTa's for real runs)")
    parser.add_argument("--merge", action="store_true",
                        help="instead of binarizing, merge the --num-shards complete shards of --output into it")
    add_bpe_args(parser)
    add_sharding_args(parser)
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser):
        if args.merge:
            manifest = merge_text_shards(args.output, args.num_shards)
        else:
            if not args.input or not args.dict:
                parser.error("--input and --dict are required unless --merge")
            manifest = binarize_text(args.input, args.output, args.dict, bpe_config(args), workers=args.workers,
                                     num_shards=args.num_shards, shard_id=args.shard_id,
                                     input_format=args.input_format)
    print(f"{manifest['dataset']}: {manifest['sequences']} sequences, {manifest['tokens']} tokens, "
          f"{manifest['replaced_by_unk']} replaced by <unk>")


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
