"""The search kit the CMCL retrievals share (TF-IDF negatives, retrieved images and texts): TF-IDF
matrices, chunk plans of sparse products, exact top-k of score rows with seeded ties, chunks on worker
processes, and faiss inner-product indexes searched in chunks.

Scale: there is never an N x N matrix. Queries go in chunks (at most ``chunk_size`` queries and
``max_products`` multiply-adds of their sparse product with the collection), each chunk's sparse scores
are reduced to a top-k on the spot, and chunks can run on worker processes.
"""
import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from tqdm import tqdm

from ...common.parallel import ordered_map

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
