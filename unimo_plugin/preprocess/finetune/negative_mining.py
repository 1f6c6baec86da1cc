"""Hard negatives for retrieval fine-tuning, mined with a checkpoint's CMCL bi-encoder similarity
(cosine of pooled ``[IMG]`` and pooled ``<s>``, each modality encoded alone).

The output for one caption split is a directory, written atomically with a manifest beside it::

    images.npy      (C, N) int64   per caption: store rows of the N most similar OTHER images
    image_rows.npy  (I,)   int64   the split's distinct store rows, sorted
    captions.npy    (I, N) int64   per image (image_rows order): the N most similar captions of OTHER images

The manifest records the region store of those rows (path, image count, creation time and
``region_store_digest``, its identity that the retrieval task checks).

Mining runs in two steps. The costly one, a forward pass per image and per caption, is sharded:
shard K of N embeds a contiguous range of the images and of the captions into
``OUTPUT.embeddings[.shardK-of-N]``; a complete shard is skipped, so a rerun resumes. The search
step reads every shard and keeps the top N by exact inner products, in chunks.
"""
import logging
import os

import numpy as np
import torch

from ...common.artifacts import (
    InputError,
    atomic_output,
    is_complete,
    manifest_path,
    read_manifest,
    shard_bounds,
    shard_output,
    write_manifest,
)
from ...evaluation.retrieval import embed_split
from ...formats.region_store import check_store_identity, store_fields

logger = logging.getLogger(__name__)

KIND, EMBEDDINGS_KIND = "unimo_retrieval_negatives", "unimo_retrieval_embeddings"


def default_output(pairs_dir, split):
    return os.path.join(pairs_dir, f"{split}.retrieval_negatives")


def embeddings_path(output, num_shards, shard_id):
    return shard_output(f"{output}.embeddings", num_shards, shard_id)


def mine_split(model, dictionary, captions, image_rows, store, output, num_negatives, num_shards=1, shard_id=None,
               merge=False, overwrite=False, max_regions=100, batch_size=64, chunk_size=4096, progress=True,
               **manifest_fields):
    """Embed shard ``shard_id`` of ``num_shards`` (None: every shard in turn, then search), and with
    ``merge`` search once every shard is complete. Complete outputs are skipped unless ``overwrite``.
    Returns the manifests written or found."""
    manifest_fields = dict(manifest_fields, **store_fields(store, output))
    shard_ids = range(num_shards) if shard_id is None else [shard_id]
    for k in shard_ids:
        shard_bounds(0, num_shards, k)  # validates the shard id before any work
    manifests = [embed_shard(model, dictionary, captions, image_rows, store, output, num_shards, k, overwrite,
                             max_regions, batch_size, progress, **manifest_fields) for k in shard_ids]
    if shard_id is None or merge:
        manifests.append(mine_negatives(output, image_rows, num_negatives, num_shards, overwrite, chunk_size,
                                        **manifest_fields))
    return manifests


def embed_shard(model, dictionary, captions, image_rows, store, output, num_shards=1, shard_id=0, overwrite=False,
                max_regions=100, batch_size=64, progress=True, **manifest_fields):
    """Embed shard ``shard_id`` of the split's distinct images and of its captions; return its manifest."""
    path = embeddings_path(output, num_shards, shard_id)
    if is_complete(path) and not overwrite:
        logger.info(f"{path} is complete, skipping (remove {manifest_path(path)} or pass --overwrite to redo it)")
        return read_manifest(path)
    rows = np.unique(image_rows)
    if num_shards > len(rows):
        raise ValueError(f"--num-shards {num_shards} is more than the split's {len(rows)} images")
    i0, i1 = shard_bounds(len(rows), num_shards, shard_id)
    c0, c1 = shard_bounds(len(captions), num_shards, shard_id)
    images, texts, _ = embed_split(model, dictionary, [captions[i] for i in range(c0, c1)], rows[i0:i1], store,
                                   max_regions, batch_size, progress)
    with atomic_output(path) as tmp:
        os.makedirs(tmp)
        np.save(os.path.join(tmp, "images.npy"), images.float().numpy())
        np.save(os.path.join(tmp, "texts.npy"), texts.float().numpy())
    return write_manifest(path, EMBEDDINGS_KIND, image_range=[i0, i1], caption_range=[c0, c1],
                          num_shards=num_shards, shard_id=shard_id, **manifest_fields)


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


def mine_negatives(output, image_rows, num_negatives, num_shards=1, overwrite=False, chunk_size=4096,
                   **manifest_fields):
    """Search the top ``num_negatives`` from the complete embedding shards of ``output``; write it."""
    if is_complete(output) and not overwrite:
        logger.info(f"{output} is complete, skipping (remove {manifest_path(output)} or pass --overwrite to redo it)")
        return read_manifest(output)
    shards = [embeddings_path(output, num_shards, k) for k in range(num_shards)]
    missing = [s for s in shards if not is_complete(s)]
    if missing:
        raise ValueError(f"cannot mine {output}: {len(missing)} of {num_shards} embedding shards are not complete "
                         f"({', '.join(missing)})")
    for key, what in (("checkpoint", "checkpoints"), ("region_store_digest", "region stores")):
        if len({read_manifest(s).get(key) for s in shards}) > 1:
            raise ValueError(f"cannot mine {output}: its embedding shards come from different {what}")
    images = torch.from_numpy(np.concatenate([np.load(os.path.join(s, "images.npy")) for s in shards]))
    texts = torch.from_numpy(np.concatenate([np.load(os.path.join(s, "texts.npy")) for s in shards]))
    rows = np.unique(image_rows)
    if (len(images), len(texts)) != (len(rows), len(image_rows)):
        raise ValueError(f"{output}: the shards hold {len(images)} images and {len(texts)} captions, the split "
                         f"{len(rows)} and {len(image_rows)}: embedded from another split?")
    caption_images = torch.from_numpy(np.searchsorted(rows, image_rows))
    most_own = int(torch.bincount(caption_images).max())
    k_images, k_captions = min(num_negatives, len(rows) - 1), min(num_negatives, len(image_rows) - most_own)
    if k_images < 1 or k_captions < 1:
        raise ValueError(f"{output}: the split has too few images ({len(rows)}) to mine negatives from")
    # wrong images of each caption: every image but its own
    negative_images = _top_k_excluding(
        texts, images, lambda s, e: caption_images[s:e, None] == torch.arange(len(rows))[None], k_images, chunk_size)
    # wrong captions of each image: every caption of another image
    negative_captions = _top_k_excluding(
        images, texts, lambda s, e: torch.arange(s, e)[:, None] == caption_images[None], k_captions, chunk_size)
    with atomic_output(output) as tmp:
        os.makedirs(tmp)
        np.save(os.path.join(tmp, "images.npy"), rows[negative_images])
        np.save(os.path.join(tmp, "image_rows.npy"), rows)
        np.save(os.path.join(tmp, "captions.npy"), negative_captions)
    return write_manifest(output, KIND, captions=len(image_rows), images=len(rows),
                          negative_images_per_caption=k_images, negative_captions_per_image=k_captions,
                          embedding_shards=[os.path.basename(s) for s in shards], **manifest_fields)


class MinedNegatives:
    """Reader of a mined output, checked against the caption split it is used with and the region store
    its rows will index."""

    def __init__(self, path, image_rows, store):
        if not is_complete(path):
            raise FileNotFoundError(f"{path}: no complete mined negatives (mine_retrieval_negatives.py writes "
                                    f"the directory and {manifest_path(path)})")
        manifest = read_manifest(path)
        if manifest.get("kind") != KIND:
            raise InputError(manifest_path(path), f"kind {manifest.get('kind')!r}, expected {KIND!r}")
        check_store_identity(store, manifest, path)
        self.images = np.load(os.path.join(path, "images.npy"), mmap_mode="r")
        self.image_rows = np.load(os.path.join(path, "image_rows.npy"))
        self.captions = np.load(os.path.join(path, "captions.npy"), mmap_mode="r")
        if len(self.images) != len(image_rows) or not np.array_equal(self.image_rows, np.unique(image_rows)):
            raise InputError(path, f"mined for {len(self.images)} captions of {len(self.image_rows)} images, but the "
                                   f"split has {len(image_rows)} captions of {len(np.unique(image_rows))}: "
                                   f"mined from another split or an older binarization")

    def captions_of_image(self, row):
        return self.captions[np.searchsorted(self.image_rows, row)]
