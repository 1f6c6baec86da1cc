"""Subword encoding through fairseq's own BPE registry (``build_bpe``), and the record of which BPE
binarized data (and so a checkpoint trained on it) uses.

Using fairseq's encoders (not a re-implementation) keeps our token ids identical to what
``examples/roberta/multiprocessing_bpe_encoder.py`` followed by ``fairseq-preprocess`` produce.

Every writer of binarized text records its BPE in its manifest (``"bpe"``: the Namespace ``build_bpe``
takes, or null for text that was already dictionary symbols). The tasks turn that into their
``--bpe-record`` option, which fairseq saves in checkpoints, so text given to a trained model later goes
through the same BPE instead of silently becoming ``<unk>``.
"""
import hashlib
import json
import os
from argparse import Namespace
from typing import Any, Dict, Iterable, List, Optional, Tuple

from fairseq.data.encoders import build_bpe
from fairseq.tokenizer import tokenize_line

from ..common.artifacts import manifest_path, read_manifest

BPE_FILES = {
    "gpt2": ("gpt2_encoder_json", "gpt2_vocab_bpe"),
    "fastbpe": ("bpe_codes",),
    "sentencepiece": ("sentencepiece_model",),
}


NO_BPE = "none"  # the record of text binarized without BPE: whitespace-separated dictionary symbols
PASS_BPE = ("pass the BPE explicitly: UnimoModel.from_pretrained(..., bpe='gpt2', gpt2_encoder_json=..., "
            "gpt2_vocab_bpe=...) or bpe_record='none' for text that is whitespace-separated dictionary symbols "
            "(fairseq CLIs: --bpe gpt2 --gpt2-encoder-json ... --gpt2-vocab-bpe ..., or --bpe-record)")


def bpe_files(cfg: Optional[Namespace]) -> List[str]:
    """The files a BPE config reads (none for None)."""
    return [] if cfg is None else [getattr(cfg, name) for name in BPE_FILES.get(cfg.bpe, ())]


def bpe_record(cfg: Optional[Dict[str, Any]]) -> str:
    """The ``--bpe-record`` of a manifest's ``bpe`` entry: its JSON, or ``none`` for null."""
    return NO_BPE if cfg is None else json.dumps(cfg, sort_keys=True)


def _bpe_identity(cfg: Optional[Dict[str, Any]]) -> Tuple:
    """What makes two recorded BPEs the same: their kind and the contents of their files (a data
    directory copied elsewhere records other paths to the same files)."""
    if cfg is None:
        return NO_BPE
    files = [bool(cfg.get("lowercase"))]
    for name in BPE_FILES.get(cfg["bpe"], ()):
        path = cfg[name]
        if os.path.isfile(path):
            with open(path, "rb") as f:
                files.append(hashlib.sha256(f.read()).hexdigest())
        else:
            files.append(path)
    return (cfg["bpe"], *files)


def recorded_bpe(outputs: Iterable[str]) -> Optional[str]:
    """The ``--bpe-record`` the manifests of ``outputs`` agree on (outputs without a manifest, or whose
    manifest has no ``bpe`` entry, say nothing); None when none records one. Text binarized with two
    BPEs cannot share one model: that is an error naming both manifests."""
    found = {}  # identity -> (record, manifest)
    for output in outputs:
        if os.path.exists(manifest_path(output)):
            manifest = read_manifest(output)
            if "bpe" in manifest:
                found.setdefault(_bpe_identity(manifest["bpe"]), (bpe_record(manifest["bpe"]), manifest_path(output)))
    if len(found) > 1:
        (first, first_path), (second, second_path) = list(found.values())[:2]
        raise ValueError(f"the data was binarized with different BPEs: {first_path} records {first}, "
                         f"{second_path} records {second}; binarize it all with one, or choose with --bpe-record")
    return next(iter(found.values()), (None,))[0]


def build_recorded_bpe(record: Optional[str]) -> Any:
    """fairseq's BPE for a ``--bpe-record`` (None for ``none``). Without a record, or when its files are
    gone, this is an error rather than a guess: a wrong BPE maps words to ``<unk>`` without a sign."""
    if record is None:
        raise ValueError(f"no BPE is recorded for this model's text (the checkpoint's --bpe-record and the "
                         f"data's manifests name none); {PASS_BPE}")
    if record == NO_BPE:
        return None
    cfg = json.loads(record)
    missing = [cfg[name] for name in BPE_FILES.get(cfg["bpe"], ()) if not os.path.isfile(cfg[name])]
    if missing:
        raise FileNotFoundError(f"the recorded BPE (--bpe-record) names {', '.join(missing)}, which no longer "
                                f"exist; {PASS_BPE}")
    bpe = build_bpe(Namespace(**cfg))
    return LowercasingBpe(bpe) if cfg.get("lowercase") else bpe


class LowercasingBpe:
    """A fairseq BPE that lowercases text before encoding it: the record of text binarized with
    ``--lowercase`` (the released UNIMO models read lowercased text only)."""

    def __init__(self, bpe):
        self.bpe = bpe

    def encode(self, x: str) -> str:
        return self.bpe.encode(x.lower())

    def decode(self, x: str) -> str:
        return self.bpe.decode(x)

    def is_beginning_of_word(self, x: str) -> bool:
        return self.bpe.is_beginning_of_word(x)


class BpeTokenizer:
    """A line -> BPE symbols (GPT-2: ids as strings), as fairseq's RoBERTa preprocessing makes them.

    The encoder is built lazily, so the object pickles cheaply into worker processes.
    """

    def __init__(self, cfg: Namespace):
        self.cfg = cfg
        self._bpe = None

    def __getstate__(self):
        return {"cfg": self.cfg, "_bpe": None}

    def __call__(self, line: str) -> List[str]:
        if self._bpe is None:
            self._bpe = build_bpe(self.cfg)
        line = line.strip()
        return tokenize_line(self._bpe.encode(line.lower() if getattr(self.cfg, "lowercase", False) else line))
