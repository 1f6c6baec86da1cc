"""Sentence-level hard negatives for CMCL (X-) by TF-IDF, and the options and main of the CMCL retrieval
scripts (this one, retrieve_images.py and retrieve_texts.py).

A hard negative is a caption of ANOTHER image that shares many of the caption's weighted words:
close in text, wrong for the image. A candidate that (nearly) repeats any true caption of the image
(cosine >= ``duplicate_threshold``, or the same text after :func:`text_key`) would be a false negative
and is skipped; texts repeated across images are offered once.

Queries go in chunks of whole images through the search kit of ``search.py``. The exact search costs,
per query, the summed document frequency of its terms: words in most captions ("the", "of") make it
quadratic, which ``max_df``/``stop_words`` remove. With ``faiss=True`` candidates come from an
inner-product index over randomly projected TF-IDF vectors instead and are scored exactly.
"""
import logging

import numpy as np
import scipy.sparse as sp
from sklearn.random_projection import SparseRandomProjection

from ...common.artifacts import manifest_path, read_manifest
from ...formats.cmcl_candidates import text_key
from .retrieval_run import retrieve_split
from .search import (
    MAX_PRODUCTS,
    Groups,
    faiss_index,
    fit_tfidf,
    group_ids,
    map_chunks,
    plan_chunks,
    product_costs,
    ragged_arange,
    top_k_row,
)

logger = logging.getLogger(__name__)


class _Negatives:
    """Per chunk of query images: the TF-IDF scores of their captions, reduced to negatives."""

    def __init__(self, matrix, image_of, num_images, texts, k, duplicate_threshold, tie_rank, query_range):
        self.matrix, self.by_term = matrix, matrix.T.tocsr()
        self.image_of, self.images = image_of, Groups(image_of, num_images)
        self.key_of, num_keys = group_ids(text_key(t) for t in texts)
        self.same_text = Groups(self.key_of, num_keys)
        self.k, self.duplicate_threshold, self.tie_rank = k, duplicate_threshold, tie_rank
        self.start, self.end = query_range

    def __call__(self, images):
        """Exact: every caption sharing a term with a caption of the image is a candidate."""
        return self.select(images, self.matrix[self.images.members(images)] @ self.by_term)

    def from_index(self, images, index, vectors, m):
        """Candidates from a faiss index: the ``m`` nearest of each caption of an image, pooled over the
        image and scored exactly against all of its captions. An image whose captions then lack negatives
        (the nearest were its own captions or their near-duplicates) searches again, up to 16 times as far."""
        out, widest = [], min(self.matrix.shape[0], 16 * m)
        while len(images):
            found = self._from_index(images, index, vectors, m)
            short = {self.image_of[caption] for caption, cols, _ in found if len(cols) < self.k}
            if m >= widest or not short:
                return out + found
            out += [f for f in found if self.image_of[f[0]] not in short]
            images, m = np.array([i for i in images if i in short]), min(4 * m, widest)
        return out

    def _from_index(self, images, index, vectors, m):
        captions = self.images.members(images)
        _, found = index.search(vectors[captions], m)
        sizes = np.diff(self.images.bounds)[images]
        first_row = np.cumsum(sizes) - sizes
        n = self.matrix.shape[0]
        pooled = np.unique((np.repeat(np.arange(len(images)), sizes)[:, None] * n + found)[found >= 0])
        image, candidate = np.divmod(pooled, n)
        rows = np.repeat(first_row[image], sizes[image]) + ragged_arange(sizes[image])
        cols = np.repeat(candidate, sizes[image])
        cosines = np.asarray(self.matrix[captions[rows]].multiply(self.matrix[cols]).sum(1)).ravel()
        shared = cosines > 0  # as in the exact search: a candidate shares a term
        return self.select(images, sp.csr_matrix((cosines[shared], (rows[shared], cols[shared])),
                                                 shape=(len(captions), n)))

    def select(self, images, scores):
        """(caption, negatives, scores) of the queried captions of ``images`` from their score rows
        (one row per caption of each image, in :meth:`Groups.members` order; columns: all captions)."""
        out, row = [], 0
        for image in images:
            captions = self.images[image]
            block = slice(scores.indptr[row], scores.indptr[row + len(captions)])
            duplicates = scores.indices[block][scores.data[block] >= self.duplicate_threshold]
            excluded = np.union1d(duplicates, self.same_text.members(np.unique(self.key_of[captions])))
            for caption in captions:
                if self.start <= caption < self.end:
                    a, b = scores.indptr[row], scores.indptr[row + 1]
                    cols, vals = top_k_row(scores.indices[a:b], scores.data[a:b], self.k, self.tie_rank, excluded,
                                           self.key_of)
                    out.append((caption, cols, vals))
                row += 1
        return out


def tfidf_negatives(texts, image_ids, k, duplicate_threshold=0.95, chunk_size=2048, *, query_range=None,
                    faiss=False, faiss_dim=256, candidates=None, nlist=0, nprobe=16, seed=0, workers=1,
                    max_products=MAX_PRODUCTS, progress=False, stop_words=None, max_df=1.0, min_df=1,
                    sublinear_tf=False):
    """For each of ``texts[start:end]`` (``query_range``; default all), the ``k`` texts of OTHER images
    closest in TF-IDF cosine, skipping near-duplicates of any true text of its image.

    Returns ``(indices, scores)``: (end - start, k) arrays, best first, of int64 indices into ``texts``
    (-1 where fewer candidates exist) and float32 cosines (0 there). TF-IDF is fitted on all ``texts``,
    so the shards of one collection agree. ``faiss``: candidates are the ``candidates`` (default 4k + 16)
    nearest of each text after a sparse random projection to ``faiss_dim`` dimensions (none for a smaller
    vocabulary), searched flat or, with ``nlist``/``nprobe``, by IVF; pooled per image, then scored exactly.
    ``seed`` seeds tie-breaking, the projection and the clustering.
    ``workers`` processes share the exact search (faiss uses as many threads).
    """
    n = len(texts)
    if len(image_ids) != n:
        raise ValueError(f"{len(image_ids)} image ids for {n} texts")
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    start, end = query_range or (0, n)
    indices, scores = np.full((end - start, k), -1, np.int64), np.zeros((end - start, k), np.float32)
    if end <= start:
        return indices, scores
    matrix = fit_tfidf(texts, stop_words, max_df, min_df, sublinear_tf)
    logger.info(f"TF-IDF over {n} texts: {matrix.shape[1]} terms, {matrix.nnz / n:.1f} per text")
    image_of, num_images = group_ids(image_ids)
    work = _Negatives(matrix, image_of, num_images, texts, k, duplicate_threshold,
                      np.random.default_rng(seed).permutation(n), (start, end))
    query_images = np.unique(image_of[start:end])  # ids follow first appearance: so does this order
    sizes = np.diff(work.images.bounds)[query_images]
    if faiss:
        # A random projection keeps every term's share of the cosine (up to noise); an SVD would keep the
        # common terms and lose the rare ones that make captions alike.
        vectors = (matrix.toarray() if matrix.shape[1] <= faiss_dim else
                   SparseRandomProjection(faiss_dim, random_state=seed, dense_output=True).fit_transform(matrix))
        vectors = vectors.astype(np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        index = faiss_index(vectors, nlist, nprobe, seed, workers)
        m = min(n, candidates or 4 * k + 16)
        spans = plan_chunks(sizes, np.zeros_like(sizes), chunk_size)
        run, run_workers = (lambda images: work.from_index(images, index, vectors, m)), 1
    else:
        costs = np.bincount(image_of, weights=product_costs(matrix, matrix), minlength=num_images)[query_images]
        spans = plan_chunks(sizes, costs, chunk_size, max_products)
        run, run_workers = work, workers
    results = map_chunks(run, [query_images[a:b] for a, b in spans], [sizes[a:b].sum() for a, b in spans],
                         run_workers, progress, "negatives")
    for chunk in results:
        for caption, cols, vals in chunk:
            indices[caption - start, :len(cols)], scores[caption - start, :len(cols)] = cols, vals
    return indices, scores


def negative_items(captions, indices, scores):
    """cmcl_raw items of :func:`tfidf_negatives`'s result for ``captions`` (the texts it searched)."""
    return [[{"text": captions[j]["text"], "level": "sentence",
              "swapped": {"kind": "retrieved", "caption_id": captions[j]["caption_id"],
                          "image_id": captions[j]["image_id"]},
              "score": round(float(s), 6)} for j, s in zip(row, row_scores) if j >= 0]
            for row, row_scores in zip(indices, scores)]


# Running a retrieval script: one shard of a caption split in, one cmcl_raw file out.

def run_retrieval(args, what, field, retrieve, inputs=dict):
    """A retrieval command's work on its parsed options ``args``: shard ``args.shard_id`` of
    ``args.num_shards``, or with ``args.merge`` the merge of the shards (``retrieval_run.retrieve_split``);
    prints what it did and returns the output's manifest.

    ``retrieve(captions, start, end)`` gives the items of captions[start:end] and a dict of statistics of
    its own; ``inputs()`` gives the files it reads (name -> paths). The options that shape the result go to
    the manifest: shards made with other options or from other inputs are refused.
    """
    options = {name: value for name, value in sorted(vars(args).items()) if name not in _RUN_OPTIONS}
    result = retrieve_split(args.pairs, args.split, what, field, retrieve, options, inputs(), args.output,
                            args.num_shards, args.shard_id, args.merge)
    if result.skipped:
        print(f"{result.output}: already complete, skipped (remove {manifest_path(result.output)} to redo it)")
    print(f"{result.output}:")
    for name, value in result.stats.items():
        print(f"  {name}: {value}")
    return read_manifest(result.output)


# Options of how a retrieval runs, not of what it finds.
_RUN_OPTIONS = {"pairs", "split", "output", "chunk_size", "max_products", "merge", "no_progress", "num_shards",
                "shard_id", "workers"}
