"""Hard negatives for retrieval fine-tuning, mined with a checkpoint's CMCL bi-encoder similarity
(``models/bi_encoder.py``); the output's layout and reader are ``formats/mined_negatives.py``.

Mining runs in two steps, as one sharded run (``common/sharded_run.py``). The costly one, a forward
pass per image and per caption, is sharded: shard K of N embeds a contiguous range of the images and
of the captions into ``OUTPUT.embeddings[.shardK-of-N]``; a complete shard is skipped, so a rerun
resumes. The merge step reads every shard and keeps the top N by exact inner products, in chunks.
"""
import os

import numpy as np
import torch
from fairseq.data.indexed_dataset import data_file_path, index_file_path

from ...common.artifacts import atomic_output, read_manifest, shard_bounds, write_manifest
from ...common.sharded_run import ShardedRun
from ...formats.mined_negatives import write_mined_negatives
from ...formats.region_store import ROWS_SUFFIX, store_fields
from ...models.bi_encoder import embed_split

EMBEDDINGS_KIND = "unimo_retrieval_embeddings"


def embeddings_prefix(output):
    return f"{output}.embeddings"


def _top_k_excluding(queries, keys, excluded, k, chunk_size):
    """(Q, k) indices of the keys with the largest inner product per query, never where ``excluded``
    (a function of the query range giving a (q, K) bool mask) is True."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk_size):
        end = min(start + chunk_size, len(queries))
        scores = queries[start:end] @ keys.T
        scores.masked_fill_(excluded(start, end), float("-inf"))
        out[start:end] = scores.topk(k, dim=1).indices.numpy()
    return out


class _MiningRun(ShardedRun):
    """Shards: embeddings of a range of the distinct images and of the captions; merge: the search."""

    def __init__(self, model, dictionary, captions, image_rows, store, output, num_negatives, num_shards, max_regions,
                 batch_size, chunk_size, inputs, manifest_fields):
        options = dict(max_regions=max_regions, captions=len(image_rows), region_store_digest=store.ids_digest)
        super().__init__(output, options, inputs, num_shards, shard_prefix=embeddings_prefix(output),
                         merge_options={"num_negatives": num_negatives})
        self.model, self.dictionary, self.captions, self.store = model, dictionary, captions, store
        self.image_rows, self.rows = image_rows, np.unique(image_rows)
        self.num_negatives, self.max_regions, self.batch_size, self.chunk_size = (num_negatives, max_regions,
                                                                                  batch_size, chunk_size)
        self.manifest_fields = manifest_fields

    def count_items(self):
        if self.num_shards > len(self.rows):
            raise ValueError(f"--num-shards {self.num_shards} is more than the split's {len(self.rows)} images")
        return len(self.rows)

    def write_shard(self, shard, progress):
        c0, c1 = shard_bounds(len(self.captions), shard.num_shards, shard.shard_id)
        images, texts, _ = embed_split(self.model, self.dictionary, [self.captions[i] for i in range(c0, c1)],
                                       self.rows[shard.start:shard.end], self.store, self.max_regions, self.batch_size,
                                       progress)
        with atomic_output(shard.output) as tmp:
            os.makedirs(tmp)
            np.save(os.path.join(tmp, "images.npy"), images.float().numpy())
            np.save(os.path.join(tmp, "texts.npy"), texts.float().numpy())
        write_manifest(shard.output, EMBEDDINGS_KIND, image_range=[shard.start, shard.end], caption_range=[c0, c1],
                       **self.manifest_fields)
        return {"images": shard.end - shard.start, "captions": c1 - c0}

    def concatenate(self, shards, output):
        """Search the top ``num_negatives`` from the complete embedding shards; write the output."""
        images = torch.from_numpy(np.concatenate([np.load(os.path.join(s.output, "images.npy")) for s in shards]))
        texts = torch.from_numpy(np.concatenate([np.load(os.path.join(s.output, "texts.npy")) for s in shards]))
        if (len(images), len(texts)) != (len(self.rows), len(self.image_rows)):
            raise ValueError(f"{output}: the shards hold {len(images)} images and {len(texts)} captions, the split "
                             f"{len(self.rows)} and {len(self.image_rows)}: embedded from another split?")
        caption_images = torch.from_numpy(np.searchsorted(self.rows, self.image_rows))
        most_own = int(torch.bincount(caption_images).max())
        k_images = min(self.num_negatives, len(self.rows) - 1)
        k_captions = min(self.num_negatives, len(self.image_rows) - most_own)
        if k_images < 1 or k_captions < 1:
            raise ValueError(f"{output}: the split has too few images ({len(self.rows)}) to mine negatives from")
        # wrong images of each caption: every image but its own
        negative_images = _top_k_excluding(
            texts, images, lambda s, e: caption_images[s:e, None] == torch.arange(len(self.rows))[None], k_images,
            self.chunk_size)
        # wrong captions of each image: every caption of another image
        negative_captions = _top_k_excluding(
            images, texts, lambda s, e: torch.arange(s, e)[:, None] == caption_images[None], k_captions,
            self.chunk_size)
        manifest = write_mined_negatives(output, self.rows[negative_images], self.rows, negative_captions,
                                         embedding_shards=[os.path.basename(s.output) for s in shards],
                                         **self.manifest_fields)
        return {key: manifest[key] for key in ("captions", "images", "negative_images_per_caption",
                                               "negative_captions_per_image")}


def mine_split(model, dictionary, captions, image_rows, store, output, num_negatives, num_shards=1, shard_id=None,
               merge=False, overwrite=False, max_regions=100, batch_size=64, chunk_size=4096, progress=True,
               checkpoint=None, pairs=None, split=None, **manifest_fields):
    """Embed shard ``shard_id`` of ``num_shards`` (None: every shard in turn, then search), and with
    ``merge`` search once every shard is complete. Complete outputs are skipped unless ``overwrite``.
    ``checkpoint`` (the model's file) and the caption split ``pairs/split`` are recorded as the inputs
    that shards must share. Returns the manifests written or found."""
    inputs = {}
    if checkpoint is not None:
        inputs["checkpoint"] = [checkpoint]
    if pairs is not None:
        prefix = os.path.join(pairs, split)
        inputs["captions"] = [data_file_path(prefix), index_file_path(prefix), prefix + ROWS_SUFFIX]
    manifest_fields = dict(manifest_fields, checkpoint=checkpoint, pairs=pairs, split=split,
                           **store_fields(store, output))
    run = _MiningRun(model, dictionary, captions, image_rows, store, output, num_negatives, num_shards, max_regions,
                     batch_size, chunk_size, inputs, manifest_fields)
    results = run.run(None if shard_id is None else [shard_id], merge=shard_id is None or merge, overwrite=overwrite,
                      progress=progress)
    return [read_manifest(result.output) for result in results]
