"""Sentence-level hard negatives for CMCL (X-) by TF-IDF, and the search and run machinery that the
image (XI) and text (XT) retrievals share.

A hard negative is a caption of ANOTHER image that shares many of the caption's weighted words:
close in text, wrong for the image. A candidate that (nearly) repeats any true caption of the image
(cosine >= ``duplicate_threshold``, or the same text after :func:`text_key`) would be a false negative
and is skipped; texts repeated across images are offered once.

Scale: there is never an N x N matrix. Queries go in chunks (whole images at a time, at most
``chunk_size`` queries and ``max_products`` multiply-adds of their sparse product with the collection),
each chunk's sparse scores are reduced to a top-k on the spot, and chunks can run on worker processes.
The exact search costs, per query, the summed document frequency of its terms: words in most captions
("the", "of") make it quadratic, which ``max_df``/``stop_words`` remove. With ``faiss=True`` candidates
come from an inner-product index over randomly projected TF-IDF vectors instead and are scored exactly.
"""
import json
import logging
import os
import shutil
import time

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.random_projection import SparseRandomProjection
from tqdm import tqdm

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
from ...common.parallel import ordered_map
from ...formats.cmcl_candidates import KIND, read_captions, read_cmcl_raw, text_key, write_cmcl_raw

logger = logging.getLogger(__name__)

# Multiply-adds of one chunk's sparse product: its result (about 12 bytes an entry) stays near 0.4 GB.
MAX_PRODUCTS = 1 << 25



def group_ids(values):
    """Ids 0..G-1 in order of first appearance, as an int64 array, and G."""
    ids = {}
    return np.array([ids.setdefault(v, len(ids)) for v in values], dtype=np.int64), len(ids)


class Groups:
    """Members of each group of ``group_of`` (an int array of group ids 0..G-1), in index order."""

    def __init__(self, group_of, num_groups):
        self.order = np.argsort(group_of, kind="stable")
        self.bounds = np.searchsorted(group_of[self.order], np.arange(num_groups + 1))

    def __getitem__(self, group):
        return self.order[self.bounds[group]:self.bounds[group + 1]]

    def members(self, groups):
        return np.concatenate([self[g] for g in groups]) if len(groups) else np.zeros(0, np.int64)


def fit_tfidf(texts, stop_words=None, max_df=1.0, min_df=1, sublinear_tf=False):
    """scikit-learn's TF-IDF (L2-normalised rows, so dot products are cosines) as a float32 CSR matrix."""
    vectorizer = TfidfVectorizer(stop_words=stop_words, max_df=max_df, min_df=min_df, sublinear_tf=sublinear_tf,
                                 dtype=np.float32)
    try:
        return vectorizer.fit_transform(texts).tocsr()
    except ValueError as e:  # e.g. every word pruned by max_df/min_df/stop_words
        raise ValueError(f"TF-IDF: {e}") from None


def product_costs(queries, collection):
    """Per query row, the multiply-adds (= candidates at most) of its sparse product with ``collection``."""
    frequency = np.bincount(collection.indices, minlength=collection.shape[1]).astype(np.int64)
    present = sp.csr_matrix((np.ones_like(queries.data, np.int64), queries.indices, queries.indptr),
                            shape=queries.shape)
    return present @ frequency


def plan_chunks(sizes, costs, chunk_size, max_products=MAX_PRODUCTS):
    """Consecutive groups as [start, end) ranges of at most ``chunk_size`` queries and ``max_products``
    cost (a single group over either limit gets a chunk of its own)."""
    if chunk_size < 1:
        raise ValueError(f"chunk size must be positive, got {chunk_size}")
    chunks, start, rows, cost = [], 0, 0, 0
    for group, (size, group_cost) in enumerate(zip(sizes, costs)):
        if group > start and (rows + size > chunk_size or cost + group_cost > max_products):
            chunks.append((start, group))
            start, rows, cost = group, 0, 0
        rows, cost = rows + size, cost + group_cost
    if start < len(sizes):
        chunks.append((start, len(sizes)))
    return chunks


def top_k_row(cols, vals, k, tie_rank, excluded=None, keys=None, min_score=None):
    """The best ``k`` candidates of one query as (columns, scores), best first.

    Ties go to the lower ``tie_rank[column]`` (a seeded permutation), so the answer depends only on the
    candidate set, never on the order a sparse product lists it. Columns in ``excluded``, scores
    below ``min_score`` and, with ``keys``, columns repeating the key of a better one are skipped. Only the
    top of the row is sorted; it grows until k candidates survive or the row is used up.
    """
    if min_score is not None:
        keep = vals >= min_score
        cols, vals = cols[keep], vals[keep]
    n = len(vals)
    m = k + (0 if excluded is None else len(excluded))
    while True:
        top = np.flatnonzero(vals >= np.partition(vals, n - m)[n - m]) if m < n else np.arange(n)
        top = top[np.lexsort((tie_rank[cols[top]], -vals[top]))]
        if excluded is not None and len(excluded):
            top = top[~np.isin(cols[top], excluded)]
        if keys is not None:
            _, first = np.unique(keys[cols[top]], return_index=True)
            top = top[np.sort(first)]
        if len(top) >= k or m >= n:
            return cols[top[:k]], vals[top[:k]]
        m *= 2


def ragged_arange(counts):
    """0..c-1 for each count c, concatenated: positions inside variable-length runs."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def top_k_arrays(found, num_queries, k):
    """(indices, scores) arrays, (num_queries, k), from each query's (columns, scores); -1 and 0 pad."""
    indices, scores = np.full((num_queries, k), -1, np.int64), np.zeros((num_queries, k), np.float32)
    for row, (cols, vals) in enumerate(found):
        indices[row, :len(cols)], scores[row, :len(cols)] = cols, vals
    return indices, scores


_WORK = None


def _set_work(work):
    global _WORK
    _WORK = work


def _run_work(chunk):
    return _WORK(chunk)


def map_chunks(work, chunks, sizes, workers=1, progress=True, desc=None):
    """``work(chunk)`` for each chunk, in order, on ``workers`` processes (``work`` is pickled once into
    each); the progress bar counts the ``sizes`` (queries) of the chunks done."""
    try:
        with tqdm(total=int(sum(sizes)), desc=desc, unit="query", disable=not progress) as bar:
            for size, result in zip(sizes, ordered_map(_run_work, chunks, workers, _set_work, (work,))):
                bar.update(size)
                yield result
    finally:
        _set_work(None)


def faiss_index(vectors, nlist=0, nprobe=16, seed=0, threads=1):
    """An inner-product faiss index over ``vectors`` ((n, d), L2-normalised rows: scores are cosines).

    ``nlist`` 0 searches exactly (flat); ``nlist`` > 0 clusters the vectors (k-means seeded by ``seed``)
    and searches the ``nprobe`` nearest clusters, for collections too large for a flat scan.
    """
    import faiss

    faiss.omp_set_num_threads(max(1, threads))
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if not nlist:
        index = faiss.IndexFlatIP(dim)
    else:
        if nlist > len(vectors):
            raise ValueError(f"--nlist {nlist} is more clusters than the {len(vectors)} vectors to index")
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(vectors)
        index.nprobe = nprobe
    index.add(vectors)
    return index


def index_top_k(index, vectors_of, num_queries, m, k, tie_rank, excluded, chunk_size, progress=False, desc=None,
                ids=None, min_score=None):
    """Per query, in chunks of ``chunk_size``: the ``m`` nearest entries of a faiss ``index`` reduced by
    :func:`top_k_row` (``excluded[query]`` skipped, ties by ``tie_rank``). ``vectors_of(start, end)`` gives
    the query vectors; ``ids`` maps index entries to columns (default: the same)."""
    def search(span):
        sims, found = index.search(vectors_of(*span), m)
        hits = found >= 0
        return [top_k_row(found[i][hits[i]] if ids is None else ids[found[i][hits[i]]], sims[i][hits[i]], k,
                          tie_rank, excluded[span[0] + i], min_score=min_score) for i in range(len(found))]

    spans = [(a, min(a + chunk_size, num_queries)) for a in range(0, num_queries, chunk_size)]
    return (found for chunk in map_chunks(search, spans, [b - a for a, b in spans], 1, progress, desc)
            for found in chunk)


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


# Running a retrieval command: one shard of a caption split in, one cmcl_raw file out.

def default_output(pairs_dir, split, what):
    return os.path.join(pairs_dir, f"{split}.cmcl_raw.{what.replace('/', '.')}.jsonl")


def run_retrieval(args, what, field, retrieve):
    """A retrieval command's work on its parsed options ``args``: one shard, or with ``args.merge`` the
    merge of the shards; returns the output's manifest.

    ``retrieve(captions, start, end)`` gives the items of captions[start:end] and a dict of statistics
    of its own. A complete shard (file and manifest) is skipped, so a rerun resumes an interrupted run.
    The options that shape the result go to the manifest: shards made with different ones are not merged.
    """
    options = {name: value for name, value in sorted(vars(args).items()) if name not in _RUN_OPTIONS}
    captions = read_captions(args.pairs, args.split)
    output = args.output or default_output(args.pairs, args.split, what)
    if args.merge:
        statistics = merge_retrieval_shards(output, captions, args.num_shards, field)
    else:
        output = shard_output(output, args.num_shards, args.shard_id)
        if is_complete(output):
            print(f"{output}: already complete, skipped (remove {manifest_path(output)} to redo it)")
            return read_manifest(output)
        start, end = shard_bounds(len(captions), args.num_shards, args.shard_id)
        t0 = time.time()
        items, own = retrieve(captions, start, end)
        statistics = dict(item_statistics(*counts_and_scores(items), args.per_caption), **own,
                          seconds=round(time.time() - t0, 1))
        write_cmcl_raw(output, captions[start:end], items, what, pairs=os.path.abspath(args.pairs),
                       split=args.split, caption_range=[start, end], num_shards=args.num_shards,
                       shard_id=args.shard_id, options=options, statistics=statistics)
    print(f"{output}:")
    for name, value in statistics.items():
        print(f"  {name}: {value}")
    return read_manifest(output)


# Options of how a retrieval runs, not of what it finds.
_RUN_OPTIONS = {"pairs", "split", "output", "chunk_size", "max_products", "merge", "no_progress", "num_shards",
                "shard_id", "workers"}


def counts_and_scores(items):
    """Items per caption and all scores, as arrays."""
    return (np.array([len(caption_items) for caption_items in items], np.int64),
            np.array([item["score"] for caption_items in items for item in caption_items], np.float64))


def item_statistics(counts, scores, k):
    """What a retrieval output holds: counts of items per caption, score quantiles."""
    quantiles = np.round(np.quantile(scores, [0, 0.5, 1]), 4).tolist() if len(scores) else [None] * 3
    return {"captions": len(counts), "items": int(counts.sum()),
            "items_per_caption": round(float(counts.mean()), 3) if len(counts) else 0.0,
            "captions_without_items": int((counts == 0).sum()),
            f"captions_with_fewer_than_{k}": int((counts < k).sum()),
            "score_min_median_max": quantiles,
            "score_mean": round(float(scores.mean()), 4) if len(scores) else None}


def merge_retrieval_shards(output, captions, num_shards, field):
    """Concatenate the complete shard files of ``output`` in order, each checked against its captions."""
    if is_complete(output):
        print(f"{output}: already complete, skipped (remove {manifest_path(output)} to redo it)")
        return read_manifest(output)["statistics"]
    shards = [shard_output(output, num_shards, s) for s in range(num_shards)]
    missing = [s for s in shards if not is_complete(s)]
    if missing:
        raise ValueError(f"cannot merge {output}: {len(missing)} of {num_shards} shards are not complete "
                         f"({', '.join(missing)})")
    manifests = [read_manifest(s) for s in shards]
    for key in ("content", "options"):
        if len({json.dumps(m.get(key), sort_keys=True) for m in manifests}) > 1:
            raise ValueError(f"cannot merge {output}: its shards differ in {key}")
    counts, scores = [], []
    with atomic_output(output) as tmp, open(tmp, "wb") as out:
        for shard, manifest in zip(shards, manifests):
            start, end = manifest["caption_range"]
            if [start, end] != list(shard_bounds(len(captions), num_shards, manifest["shard_id"])):
                raise InputError(shard, f"covers captions [{start}, {end}) of another caption split")
            # Checked, then copied as bytes: memory holds one shard at a time.
            shard_counts, shard_scores = counts_and_scores(read_cmcl_raw(shard, captions[start:end], field))
            counts.append(shard_counts)
            scores.append(shard_scores)
            with open(shard, "rb") as f:
                shutil.copyfileobj(f, out)
    k = manifests[0]["options"]["per_caption"]
    statistics = item_statistics(np.concatenate(counts), np.concatenate(scores), k)
    write_manifest(output, KIND, content=manifests[0]["content"], captions=len(captions),
                   items=statistics["items"], captions_with_items=len(captions) - statistics["captions_without_items"],
                   pairs=manifests[0]["pairs"], split=manifests[0]["split"], merged_from=shards,
                   options=manifests[0]["options"], statistics=statistics)
    return statistics
