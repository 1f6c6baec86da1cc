"""Train a byte-level BPE on text files and write GPT-2-format files plus a fairseq dictionary.

Writes OUTPUT_DIR/encoder.json and OUTPUT_DIR/vocab.bpe (load them with fairseq's
--bpe gpt2 --gpt2-encoder-json ... --gpt2-vocab-bpe ...) and OUTPUT_DIR/dict.txt (ids-as-strings with
their counts in the corpus, sorted as fairseq-preprocess sorts them, RoBERTa's dict.txt format), and
the manifest OUTPUT_DIR.manifest.json. Use it for corpora without RoBERTa's GPT-2 BPE (e.g. samples).

  unimo-train-bpe --input corpus.txt captions.txt --output-dir bpe/ --vocab-size 8000
"""
from ..preprocess.text.bpe_training import train_bpe
from ..preprocess.text.text_sources import INPUT_FORMATS
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-train-bpe", __doc__)
    parser.add_argument("--input", metavar="FILE", nargs="+", required=True,
                        help="UTF-8 text files, one sentence per line (each line is stripped, as when encoding), or "
                             "caption files (see --input-format)")
    parser.add_argument("--input-format", choices=INPUT_FORMATS, nargs="+", default=["auto"],
                        help="format of the inputs, one for all or one per --input: text (one sentence per line), "
                             "karpathy (Karpathy split JSON such as dataset_coco.json) or tsv (image_id<TAB>caption "
                             "lines): a caption file gives one text per caption, of every split; auto: karpathy if "
                             "the file starts with '{', else text (default: auto)")
    parser.add_argument("--output-dir", metavar="DIR", required=True,
                        help="directory written atomically with encoder.json, vocab.bpe and dict.txt")
    parser.add_argument("--vocab-size", type=int, default=50000,
                        help="BPE vocabulary size, including the 256 byte symbols (fewer if merges run out)")
    parser.add_argument("--min-frequency", type=int, default=2,
                        help="a pair must occur this many times in the corpus to become a merge")
    parser.add_argument("--only-seen-tokens", action="store_true",
                        help="list in dict.txt only the BPE tokens the encoded corpus contains (exactly "
                             "fairseq-preprocess's dictionary); by default unseen BPE tokens follow with "
                             "count 0, so no text ever maps to <unk>")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes for encoding the corpus to count tokens (training itself uses "
                             "the tokenizers library's own threads)")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser):
        manifest = train_bpe(args.input, args.output_dir, vocab_size=args.vocab_size,
                             min_frequency=args.min_frequency, workers=args.workers,
                             only_seen_tokens=args.only_seen_tokens, input_format=args.input_format)
    print(f"{args.output_dir}: {manifest['bpe_vocab_size']} BPE tokens, dictionary of "
          f"{manifest['dictionary_size']} symbols ({manifest['seen_tokens']} seen in the corpus)")


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
