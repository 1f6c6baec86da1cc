"""Raw text corpus -> fairseq token dataset, byte-identical to ``fairseq-preprocess --only-source``.

Input follows the RoBERTa convention: one sentence per line, a blank line between documents. Blank
lines become items holding only ``</s>``, so ``--sample-break-mode complete_doc`` still sees documents.
"""
import logging
import os

from fairseq.binarizer import VocabularyDatasetBinarizer
from fairseq.data import Dictionary
from fairseq.data.indexed_dataset import data_file_path

from ...common.artifacts import is_complete, manifest_path, read_manifest, shard_bounds, shard_output, write_manifest
from ...common.text_files import corpus_lines, count_lines
from ...formats.bpe import BpeTokenizer
from ...formats.token_datasets import dataset_dtype, merge_token_datasets, summary_fields, write_token_dataset

logger = logging.getLogger(__name__)

KIND = "unimo_text"


def binarize_text(input_path, output_prefix, dict_path, bpe_cfg, workers=1, num_shards=1, shard_id=0):
    """Write shard ``shard_id`` of ``num_shards`` (contiguous lines) of ``input_path``; return its manifest.

    A shard whose manifest exists is complete and is skipped, so an interrupted run resumes.
    """
    output = shard_output(output_prefix, num_shards, shard_id)
    if is_complete(data_file_path(output)):
        logger.info(f"{output} is complete, skipping (remove {manifest_path(data_file_path(output))} to redo it)")
        return read_manifest(data_file_path(output))
    dictionary = Dictionary.load(dict_path)
    start, end = shard_bounds(count_lines(input_path), num_shards, shard_id)
    binarizer = VocabularyDatasetBinarizer(dictionary, tokenize=BpeTokenizer(bpe_cfg))
    summary = write_token_dataset(output, corpus_lines(input_path, start, end), binarizer, len(dictionary),
                                  workers, total=end - start, desc=os.path.basename(output))
    return write_manifest(
        data_file_path(output), KIND, dataset=output, dtype=dataset_dtype(output), **summary_fields(summary),
        source=os.path.abspath(input_path), lines=[start, end], num_shards=num_shards, shard_id=shard_id,
        dictionary=os.path.abspath(dict_path), dictionary_size=len(dictionary), bpe=vars(bpe_cfg),
    )


def merge_text_shards(output_prefix, num_shards):
    """Concatenate the complete shards of ``output_prefix`` into it; return the merged manifest."""
    output = data_file_path(output_prefix)
    if is_complete(output):
        logger.info(f"{output_prefix} is complete, skipping (remove {manifest_path(output)} to redo it)")
        return read_manifest(output)
    shards = [shard_output(output_prefix, num_shards, k) for k in range(num_shards)]
    missing = [s for s in shards if not is_complete(data_file_path(s))]
    if missing:
        raise ValueError(f"cannot merge {output_prefix}: {len(missing)} of {num_shards} shards are not complete "
                         f"({', '.join(missing)})")
    manifests = [read_manifest(data_file_path(s)) for s in shards]
    for key in ("source", "dictionary", "bpe"):
        if len({repr(m[key]) for m in manifests}) > 1:
            raise ValueError(f"cannot merge {output_prefix}: its shards were made with different {key}s")
    merge_token_datasets(shards, output_prefix)
    first = manifests[0]
    counts = {key: sum(m[key] for m in manifests) for key in ("sequences", "tokens", "replaced_by_unk")}
    return write_manifest(
        output, KIND, dataset=output_prefix, dtype=first["dtype"], **counts, source=first["source"],
        lines=[0, manifests[-1]["lines"][1]], merged_shards=shards, dictionary=first["dictionary"],
        dictionary_size=first["dictionary_size"], bpe=first["bpe"],
    )
