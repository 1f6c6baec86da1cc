"""Subword encoding through fairseq's own BPE registry (``build_bpe``).

Using fairseq's encoders (not a re-implementation) keeps our token ids identical to what
``examples/roberta/multiprocessing_bpe_encoder.py`` followed by ``fairseq-preprocess`` produce.
"""
import os
from argparse import Namespace

from fairseq.data.encoders import build_bpe
from fairseq.tokenizer import tokenize_line

from .outputs import InputError

BPE_FILES = {
    "gpt2": ("gpt2_encoder_json", "gpt2_vocab_bpe"),
    "fastbpe": ("bpe_codes",),
    "sentencepiece": ("sentencepiece_model",),
}


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
    return Namespace(bpe=args.bpe, **fields)


class BpeTokenizer:
    """A line -> BPE symbols (GPT-2: ids as strings), as fairseq's RoBERTa preprocessing makes them.

    The encoder is built lazily, so the object pickles cheaply into worker processes.
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self._bpe = None

    def __getstate__(self):
        return {"cfg": self.cfg, "_bpe": None}

    def __call__(self, line):
        if self._bpe is None:
            self._bpe = build_bpe(self.cfg)
        return tokenize_line(self._bpe.encode(line.strip()))
