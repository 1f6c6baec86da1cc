"""Sentence-level paraphrases of a caption split by back-translation (en -> pivot -> en) with two
fairseq translation models, or imported from a TSV, as a CMCL positives file (cmcl_raw JSON lines,
see unimo_plugin/preprocess/cmcl/back_translation.py).

Examples::

    unimo-paraphrase --pairs data/pairs --split train \\
        --forward wmt19.en-de --backward wmt19.de-en --checkpoint-file model1.pt --bpe fastbpe \\
        --tokenizer moses --per-caption 2 --beam 5 --device cuda --batch-size 64
    unimo-paraphrase --pairs data/pairs --split train --forward en-de --backward de-en \\
        --sampling --sampling-topk 10 --per-caption 3 --seed 7 --num-shards 8 --shard-id 3
    unimo-paraphrase --pairs data/pairs --split train --forward en-de --backward de-en \\
        --sampling --sampling-topk 10 --per-caption 3 --seed 7 --num-shards 8 --merge
    unimo-paraphrase --pairs data/pairs --split train --import paraphrases.tsv
"""
import logging

import torch

from ..preprocess.cmcl.back_translation import BackTranslator, paraphrase_split, summary
from .runner import bad_input_exits, command_parser, run
from .shared_args import add_sharding_args

EPILOG = """\
A model directory holds a fairseq translation checkpoint trained with explicit -s/-t languages and
the dict.{src,tgt}.txt it was trained with (BPE codes or a sentencepiece model found there are used).
Outputs drop paraphrases equal to the caption after lowercasing and removing punctuation and extra
spaces, and repeats. Without --shard-id, every shard runs in turn in this process; a shard appears
with its OUTPUT.manifest.json only when complete, so rerunning the same command resumes. Sampling is
seeded per batch of --batch-size captions (batches start at multiples of it): the same command gives
the same output, and so does a sharded run whose shard boundaries fall on batch boundaries."""


def get_parser():
    parser = command_parser("unimo-paraphrase", __doc__, epilog=EPILOG, conflict_handler="resolve")
    parser.add_argument("--pairs", required=True, metavar="DIR", help="caption directory with {split}.captions.jsonl")
    parser.add_argument("--split", required=True, help="caption split to paraphrase (e.g. train)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="output file (default: PAIRS/{split}.cmcl_raw.paraphrases.jsonl)")
    parser.add_argument("--per-caption", type=int, metavar="N",
                        help="keep at most N paraphrases per caption (default: 1 when translating, every "
                             "line when importing)")
    source = parser.add_argument_group("paraphrase source: translation models or an imported file")
    source.add_argument("--forward", metavar="MODEL_DIR", help="English -> pivot translation model")
    source.add_argument("--backward", metavar="MODEL_DIR", help="pivot -> English translation model")
    source.add_argument("--import", dest="import_file", metavar="FILE",
                        help="paraphrases made elsewhere: caption_id<TAB>text lines, any number per caption")
    models = parser.add_argument_group("loading the models (fairseq hub options, for both directions)")
    models.add_argument("--checkpoint-file", default="model.pt",
                        help="checkpoint in each model directory; a:b for an ensemble (default: %(default)s)")
    models.add_argument("--bpe", help="fairseq BPE of the models (gpt2, fastbpe, sentencepiece, subword_nmt, ...)")
    models.add_argument("--bpe-codes", metavar="FILE", help="BPE codes (fastbpe, subword_nmt)")
    models.add_argument("--sentencepiece-model", metavar="FILE", help="sentencepiece model (--bpe sentencepiece)")
    models.add_argument("--tokenizer", help="fairseq tokenizer of the models (e.g. moses)")
    search = parser.add_argument_group("search")
    search.add_argument("--pivots", type=int, default=1, metavar="K",
                        help="pivot translations per caption, each translated back into N candidates "
                             "(default: %(default)s)")
    search.add_argument("--beam", type=int, default=5,
                        help="beam size, raised to K or N where those are larger (default: %(default)s)")
    search.add_argument("--sampling", action="store_true",
                        help="sample K pivots and N back-translations per pivot instead of the beam's n-best")
    search.add_argument("--sampling-topk", type=int, default=-1, help="sample from the k likeliest tokens")
    search.add_argument("--sampling-topp", type=float, default=-1.0,
                        help="sample from the smallest token set of probability p (nucleus)")
    search.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default: %(default)s)")
    search.add_argument("--seed", type=int, default=1, help="seed of --sampling (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="captions translated together (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--merge", action="store_true",
                        help="with --num-shards > 1: once every shard is complete, concatenate them into OUTPUT")
    parser.add_argument("--overwrite", action="store_true",
                        help="rewrite outputs that are already complete (by default a rerun skips them)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_sharding_args(parser)
    parser.add_argument("--workers", type=int,
                        help="CPU threads of --device cpu decoding, e.g. to run several shards on one "
                             "machine (default: torch's choice)")
    parser.set_defaults(shard_id=None)
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    translating = bool(args.forward or args.backward)
    if translating == bool(args.import_file) or (translating and not (args.forward and args.backward)):
        parser.error("give --forward and --backward translation models, or --import FILE")
    logging.getLogger("fairseq").setLevel(logging.WARNING)  # loading a model logs its whole config
    if args.workers:
        torch.set_num_threads(args.workers)
    per_caption = args.per_caption if args.per_caption is not None else (None if args.import_file else 1)
    with bad_input_exits(parser):
        translator = BackTranslator(
            args.forward, args.backward, pivots=args.pivots, per_pivot=per_caption, beam=args.beam,
            sampling=args.sampling, sampling_topk=args.sampling_topk, sampling_topp=args.sampling_topp,
            temperature=args.temperature, batch_size=args.batch_size, device=args.device, seed=args.seed,
            checkpoint_file=args.checkpoint_file, bpe=args.bpe, bpe_codes=args.bpe_codes,
            sentencepiece_model=args.sentencepiece_model, tokenizer=args.tokenizer) if translating else None
        results = paraphrase_split(
            args.pairs, args.split, args.output, translator=translator, import_file=args.import_file,
            per_caption=per_caption, num_shards=args.num_shards, shard_id=args.shard_id, merge=args.merge,
            overwrite=args.overwrite, progress=not args.no_progress)
    for result in results:
        print(summary(result))


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
