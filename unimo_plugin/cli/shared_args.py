"""Option groups several commands share: sharding and resumable runs, and the BPE of binarized text."""
import os
from argparse import Namespace

from ..common.artifacts import InputError
from ..formats.bpe import BPE_FILES


def add_sharding_args(parser):
    """The ``--num-shards/--shard-id/--workers`` options every per-item command shares."""
    parser.add_argument("--num-shards", type=int, default=1,
                        help="split the work into this many contiguous shards (e.g. one per machine)")
    parser.add_argument("--shard-id", type=int, default=0,
                        help="which shard this process writes (0-based); outputs get a .shardK-of-N suffix "
                             "when --num-shards > 1")
    parser.add_argument("--workers", type=int, default=1,
                        help="worker processes for the per-item work")
    return parser


def add_run_args(parser):
    """Options of every sharded, resumable writer: sharding, merging the shards, reruns, progress."""
    parser.add_argument("--merge", action="store_true",
                        help="with --num-shards > 1: once every shard is complete, concatenate them into "
                             "the output (the shards are kept; delete them afterwards if space is short)")
    parser.add_argument("--overwrite", action="store_true",
                        help="rewrite outputs that are already complete (by default a rerun skips those made with "
                             "the same options and inputs, and refuses those made otherwise, naming the shard)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_sharding_args(parser)
    parser.set_defaults(shard_id=None)  # no --shard-id: every shard in turn
    return parser


def add_bpe_args(parser):
    group = parser.add_argument_group("BPE (fairseq's encoders)")
    group.add_argument("--bpe", choices=sorted(BPE_FILES), default="gpt2",
                       help="subword model applied to each stripped line before the dictionary lookup")
    group.add_argument("--gpt2-encoder-json", metavar="FILE",
                       help="GPT-2 encoder.json (token -> id); with --bpe gpt2")
    group.add_argument("--gpt2-vocab-bpe", metavar="FILE", help="GPT-2 vocab.bpe (merges); with --bpe gpt2")
    group.add_argument("--bpe-codes", metavar="FILE", help="fastBPE codes file; with --bpe fastbpe")
    group.add_argument("--sentencepiece-model", metavar="FILE",
                       help="sentencepiece .model file; with --bpe sentencepiece")
    group.add_argument("--lowercase", action="store_true",
                       help="lowercase every line before the BPE, recorded with it (the released UNIMO models read "
                            "lowercased text: give it for data of a checkpoint from unimo-convert-official)")
    return parser


def bpe_config(args):
    """The Namespace ``build_bpe`` takes, with the files ``args.bpe`` needs checked and made absolute."""
    fields = {}
    for name in BPE_FILES[args.bpe]:
        path = getattr(args, name, None)
        if not path:
            raise ValueError(f"--bpe {args.bpe} needs --{name.replace('_', '-')}")
        if not os.path.isfile(path):
            raise InputError(path, f"no such file (--{name.replace('_', '-')})")
        fields[name] = os.path.abspath(path)
    if getattr(args, "lowercase", False):
        fields["lowercase"] = True
    return Namespace(bpe=args.bpe, **fields)
