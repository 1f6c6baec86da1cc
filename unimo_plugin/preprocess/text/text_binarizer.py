"""Raw text corpus -> fairseq token dataset, byte-identical to ``fairseq-preprocess --only-source``.

Input follows the RoBERTa convention: one sentence per line, a blank line between documents. Blank
lines become items holding only ``</s>``, so ``--sample-break-mode complete_doc`` still sees documents.
Caption files give one item per caption instead (``text_sources.py``). One sharded run
(``common/sharded_run.py``): shard K of N binarizes a contiguous range of the lines (or captions), the
merge concatenates the shards; the manifest of each is ``PREFIX.bin.manifest.json``.
"""
import logging
import os

from fairseq.binarizer import VocabularyDatasetBinarizer
from fairseq.data import Dictionary
from fairseq.data.indexed_dataset import data_file_path

from ...common.artifacts import manifest_path, read_manifest, write_manifest
from ...common.sharded_run import ShardedRun
from ...formats.bpe import BpeTokenizer, bpe_files
from ...formats.token_datasets import dataset_dtype, merge_token_datasets, summary_fields, write_token_dataset
from .text_sources import count_texts, read_texts, resolve_format

logger = logging.getLogger(__name__)

KIND = "unimo_text"
_SHARED_KEYS = ("source", "input_format", "dictionary", "dictionary_size", "bpe")


class _TextRun(ShardedRun):
    def __init__(self, output_prefix, input_path=None, dict_path=None, bpe_cfg=None, workers=1, num_shards=1,
                 fmt="auto"):
        options = inputs = None
        if input_path is not None:
            fmt = resolve_format(input_path, fmt)
            options = {"input_format": fmt, "bpe": None if bpe_cfg is None else vars(bpe_cfg)}
            inputs = {"text": [input_path], "dictionary": [dict_path], "bpe": bpe_files(bpe_cfg)}
        super().__init__(output_prefix, options, inputs, num_shards)
        self.input_path, self.dict_path, self.bpe_cfg, self.workers, self.fmt = (input_path, dict_path, bpe_cfg,
                                                                                 workers, fmt)

    def artifact(self, output):
        return data_file_path(output)

    def count_items(self):
        return count_texts(self.input_path, self.fmt)

    def write_shard(self, shard, progress):
        dictionary = Dictionary.load(self.dict_path)
        binarizer = VocabularyDatasetBinarizer(dictionary, tokenize=BpeTokenizer(self.bpe_cfg))
        summary = write_token_dataset(shard.output, read_texts(self.input_path, self.fmt, shard.start, shard.end),
                                      binarizer, len(dictionary), self.workers, total=shard.end - shard.start,
                                      desc=os.path.basename(shard.output))
        counts = summary_fields(summary)
        write_manifest(data_file_path(shard.output), KIND, dataset=shard.output, dtype=dataset_dtype(shard.output),
                       **counts, source=os.path.abspath(self.input_path), input_format=self.fmt,
                       dictionary=os.path.abspath(self.dict_path), dictionary_size=len(dictionary),
                       bpe=None if self.bpe_cfg is None else vars(self.bpe_cfg))
        return counts

    def concatenate(self, shards, output):
        merge_token_datasets([s.output for s in shards], output)
        manifests = [read_manifest(data_file_path(s.output)) for s in shards]
        counts = {key: sum(m[key] for m in manifests) for key in ("sequences", "tokens", "replaced_by_unk")}
        write_manifest(data_file_path(output), KIND, dataset=output, dtype=manifests[0]["dtype"], **counts,
                       **{key: manifests[0].get(key) for key in _SHARED_KEYS})
        return counts


def binarize_text(input_path, output_prefix, dict_path, bpe_cfg, workers=1, num_shards=1, shard_id=0,
                  input_format="auto"):
    """Write shard ``shard_id`` of ``num_shards`` (contiguous lines, or captions: ``input_format``) of
    ``input_path``; return its manifest. A shard complete with the same options and inputs is skipped,
    so an interrupted run resumes."""
    run = _TextRun(output_prefix, input_path, dict_path, bpe_cfg, workers, num_shards, input_format)
    (result,) = run.run([shard_id])
    if result.skipped:
        logger.info(f"{result.output} is complete, skipping (remove {manifest_path(data_file_path(result.output))} "
                    f"to redo it)")
    return read_manifest(data_file_path(result.output))


def merge_text_shards(output_prefix, num_shards):
    """Concatenate the complete shards of ``output_prefix`` into it; return the merged manifest."""
    (result,) = _TextRun(output_prefix, num_shards=num_shards).run([], merge=True)
    if result.skipped:
        logger.info(f"{output_prefix} is complete, skipping (remove {manifest_path(data_file_path(output_prefix))} "
                    f"to redo it)")
    return read_manifest(data_file_path(output_prefix))
