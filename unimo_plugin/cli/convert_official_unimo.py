"""Convert a checkpoint of the official UNIMO release (PaddlePaddle: unimo_base_en, unimo_large_en,
unimo_mnli_base_en, unimo_mnli_large_en) into a fairseq checkpoint of this plugin: OUTPUT_DIR/model.pt
and OUTPUT_DIR/dict.txt.

  unimo-convert-official unimo_base_en --config model_files/config/unimo_base_en.json \\
      --vocab model_files/dict/unimo_en.vocab.txt --output-dir unimo-base \\
      --gpt2-encoder-json model_files/dict/unimo_en.encoder.json --gpt2-vocab-bpe model_files/dict/unimo_en.vocab.bpe

Then: --pretrained unimo-base/model.pt to fine-tune, or UnimoModel.from_pretrained("unimo-base", "model.pt",
data_name_or_path="unimo-base"). A fine-tuned checkpoint converts with its head: unimo_mnli_*_en gives a
unimo_sentence_prediction checkpoint with the release's GLUE head for data made by unimo-prepare-glue --task MNLI.
"""
from ..formats.glue_tasks import GLUE_TASKS
from ..preprocess.official_weights import RELEASE_NLI_LABELS, convert_official
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-convert-official", __doc__)
    parser.add_argument("params_dir", metavar="PARAMS_DIR", help="the release's checkpoint directory (one file per "
                                                                 "parameter)")
    parser.add_argument("--config", required=True, metavar="FILE", help="the release's model config JSON "
                                                                         "(model_files/config/unimo_*_en.json)")
    parser.add_argument("--vocab", required=True, metavar="FILE", help="the release's vocabulary "
                                                                        "(model_files/dict/unimo_en.vocab.txt)")
    parser.add_argument("--output-dir", required=True, metavar="DIR",
                        help="written atomically: model.pt, dict.txt (and the BPE files when given)")
    parser.add_argument("--dict", metavar="FILE",
                        help="a fairseq dict.txt to use instead of the vocabulary's own order (e.g. RoBERTa's): "
                             "embedding rows are reordered by symbol; a symbol the release lacks is an error")
    parser.add_argument("--gpt2-encoder-json", metavar="FILE", help="the release's encoder.json, copied and "
                                                                    "recorded as the checkpoint's BPE")
    parser.add_argument("--gpt2-vocab-bpe", metavar="FILE", help="the release's vocab.bpe (with --gpt2-encoder-json)")
    parser.add_argument("--glue-task", choices=sorted(GLUE_TASKS),
                        help="the GLUE task of a fine-tuned GLUE head (default: MNLI for a 3-class head)")
    parser.add_argument("--head-labels", metavar="LABEL", nargs="+",
                        help="the classes of a fine-tuned head in the order of its outputs (default for MNLI: "
                             f"{' '.join(RELEASE_NLI_LABELS)}; else the labeled set's order)")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if bool(args.gpt2_encoder_json) != bool(args.gpt2_vocab_bpe):
        parser.error("give both --gpt2-encoder-json and --gpt2-vocab-bpe, or neither")
    bpe = (args.gpt2_encoder_json, args.gpt2_vocab_bpe) if args.gpt2_encoder_json else None
    with bad_input_exits(parser):
        manifest = convert_official(args.params_dir, args.config, args.vocab, args.output_dir, dict_path=args.dict,
                                    gpt2_bpe=bpe, glue_task=args.glue_task, release_labels=args.head_labels)
    head = f", head {manifest['head']} (classes {', '.join(manifest['labels'])})" if manifest["labels"] else ""
    print(f"{args.output_dir}: {manifest['converted']} tensors from {manifest['parameters']} release parameters, "
          f"task {manifest['task']}{head}; kept at their initialisation: {', '.join(manifest['initialised']) or 'none'}")
    return manifest


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
