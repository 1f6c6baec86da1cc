"""Train a byte-level BPE and write it in GPT-2's file formats, plus a fairseq dictionary.

HF ``tokenizers`` trains the merges; the files (``encoder.json``, ``vocab.bpe``) are the ones fairseq's
``--bpe gpt2`` loads. ``dict.txt`` is then built the way RoBERTa's was: the corpus is encoded with
fairseq's own GPT-2 encoder and the ids-as-strings are counted and sorted by ``Dictionary.finalize``.
"""
import collections
import json
import logging
import os
from argparse import Namespace

from fairseq.data import Dictionary
from tokenizers import ByteLevelBPETokenizer
from tqdm import tqdm

from ...common.artifacts import atomic_output, is_complete, manifest_path, read_manifest, write_manifest
from ...common.parallel import batched, ordered_map
from ...formats.bpe import BpeTokenizer
from .text_sources import count_texts, input_formats, stripped_texts

logger = logging.getLogger(__name__)

ENCODER_JSON, VOCAB_BPE, DICT_TXT = "encoder.json", "vocab.bpe", "dict.txt"
_tokenizer = None


def _set_tokenizer(tokenizer):
    global _tokenizer
    _tokenizer = tokenizer


def _count_batch(lines):
    return len(lines), collections.Counter(symbol for line in lines for symbol in _tokenizer(line))


def count_symbols(paths, bpe_cfg, workers=1, input_format="auto"):
    """Counts of the BPE symbols of every text of ``paths``, as fairseq's encoder produces them."""
    counts = collections.Counter()
    formats = input_formats(paths, input_format)
    total = sum(count_texts(p, fmt) for p, fmt in zip(paths, formats))
    results = ordered_map(_count_batch, batched(stripped_texts(paths, formats)), workers,
                          initializer=_set_tokenizer, initargs=(BpeTokenizer(bpe_cfg),))
    with tqdm(total=total, desc="count BPE tokens", unit="line") as progress:
        for num_lines, batch_counts in results:
            counts.update(batch_counts)
            progress.update(num_lines)
    return counts


def train_bpe(inputs, output_dir, vocab_size=50000, min_frequency=2, workers=1, only_seen_tokens=False,
              input_format="auto"):
    """Write ``output_dir/{encoder.json,vocab.bpe,dict.txt}`` and its manifest; return the manifest.

    ``inputs`` are plain text or caption files (``input_format``: one for all or one per input, see
    ``text_sources.py``).

    By default ``dict.txt`` also lists (with count 0, after the seen ones) every BPE token the corpus
    never produced, so that no byte sequence maps to ``<unk>``; ``only_seen_tokens`` gives exactly the
    dictionary ``fairseq-preprocess`` builds from the encoded corpus.
    """
    if is_complete(output_dir):
        logger.info(f"{output_dir} is complete, skipping (remove {manifest_path(output_dir)} to redo it)")
        return read_manifest(output_dir)
    formats = input_formats(inputs, input_format)
    with atomic_output(output_dir) as tmp:
        os.makedirs(tmp)
        trainer = ByteLevelBPETokenizer()
        trainer.train_from_iterator(batched(stripped_texts(inputs, formats)), vocab_size=vocab_size,
                                    min_frequency=min_frequency,
                                    length=sum(count_texts(p, fmt) for p, fmt in zip(inputs, formats)))
        trainer.save_model(tmp)
        os.replace(os.path.join(tmp, "vocab.json"), os.path.join(tmp, ENCODER_JSON))
        os.replace(os.path.join(tmp, "merges.txt"), os.path.join(tmp, VOCAB_BPE))
        bpe_cfg = Namespace(bpe="gpt2", gpt2_encoder_json=os.path.join(tmp, ENCODER_JSON),
                            gpt2_vocab_bpe=os.path.join(tmp, VOCAB_BPE))
        counts = count_symbols(inputs, bpe_cfg, workers, formats)
        with open(bpe_cfg.gpt2_encoder_json) as f:
            bpe_ids = json.load(f).values()
        dictionary = Dictionary()
        for symbol, count in sorted(counts.items()):
            dictionary.add_symbol(symbol, count)
        if not only_seen_tokens:
            for bpe_id in bpe_ids:
                if str(bpe_id) not in dictionary:
                    dictionary.add_symbol(str(bpe_id), 0)
        dictionary.finalize(padding_factor=8)
        dictionary.save(os.path.join(tmp, DICT_TXT))
    return write_manifest(
        output_dir, "unimo_bpe", files=[ENCODER_JSON, VOCAB_BPE, DICT_TXT], bpe_vocab_size=len(bpe_ids),
        dictionary_size=len(dictionary), seen_tokens=len(counts), corpus_tokens=sum(counts.values()),
        sources=[os.path.abspath(p) for p in inputs],
        options={"vocab_size": vocab_size, "min_frequency": min_frequency, "only_seen_tokens": only_seen_tokens,
                 "input_formats": formats},
    )
