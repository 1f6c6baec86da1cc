"""Retrieved images for CMCL (XI): for a caption, images whose detected objects overlap its image's.

UNIMO pairs such an image with the caption as one more positive. Work is per image: the pool is the
split's images, each queried image gets its ``k`` most similar OTHER images, and every caption of an
image gets that image's list.

By labels (the detector's class probabilities): a region votes for its top class when that is not the
background (class 0) and its confidence is at least ``conf_thresh``. ``jaccard`` compares the sets of
labels; ``weighted`` compares label histograms in which each region adds its confidence (three people
weigh more than one), by cosine or by weighted Jaccard (sum of minima over sum of maxima). Candidates
are the images sharing a label, found by chunked sparse products (search.py).
By features (stores without class probabilities): cosine of the L2-normalised mean region features,
searched with a faiss inner-product index.
"""
import functools

import numpy as np
import scipy.sparse as sp

from ...common.artifacts import InputError
from .search import (
    MAX_PRODUCTS,
    faiss_index,
    group_ids,
    index_top_k,
    map_chunks,
    plan_chunks,
    product_costs,
    ragged_arange,
    top_k_arrays,
    top_k_row,
)

SIMILARITIES = ("jaccard", "weighted")
WEIGHTED_METRICS = ("cosine", "jaccard")
_READ_BLOCK = 256
_NOTHING = (np.zeros(0, np.int64), np.zeros(0, np.float32))


def store_rows(store, image_ids):
    """The store row of each image id; an id missing from the store is an error naming the store."""
    try:
        return np.array([store.row_of(i) for i in image_ids], np.int64)
    except KeyError as e:
        raise ValueError(e.args[0]) from None


def _labels_of(store, conf_thresh, rows):
    """(classes, summed confidences) of each store row's confident, non-background regions."""
    out = []
    for row in rows:
        probs = np.asarray(store[row].cls_probs, np.float32)
        top, confidence = probs.argmax(1), probs.max(1)
        keep = (top != 0) & (confidence >= conf_thresh)
        classes, where = np.unique(top[keep], return_inverse=True)
        out.append((classes, np.bincount(where, confidence[keep], len(classes)).astype(np.float32)))
    return out


def _mean_features_of(store, rows):
    """The mean region feature of each store row (zeros for an image without regions)."""
    return np.stack([np.asarray(store[row].features, np.float32).mean(0) if store.num_boxes[row]
                     else np.zeros(store.feature_dim, np.float32) for row in rows])


def _read(work, rows, workers, progress, desc):
    blocks = [rows[a:a + _READ_BLOCK] for a in range(0, len(rows), _READ_BLOCK)]
    return map_chunks(work, blocks, [len(b) for b in blocks], workers, progress, desc)


def read_labels(store, rows, conf_thresh=0.2, workers=1, progress=False):
    """Confidence-weighted label histograms of store ``rows``: CSR (len(rows), num_classes) float32."""
    if store.num_classes is None:
        raise InputError(store.path, "has no class probabilities (cls_probs.npy) to take object labels from: "
                                     "retrieve by region features instead (--by features)")
    per_image = [labels for block in _read(functools.partial(_labels_of, store, conf_thresh), rows, workers,
                                           progress, "labels") for labels in block]
    indptr = np.cumsum([0] + [len(classes) for classes, _ in per_image])
    classes = np.concatenate([c for c, _ in per_image]) if per_image else np.zeros(0, np.int64)
    weights = np.concatenate([w for _, w in per_image]) if per_image else np.zeros(0, np.float32)
    return sp.csr_matrix((weights, classes, indptr), shape=(len(rows), store.num_classes))


def read_mean_features(store, rows, workers=1, progress=False):
    """L2-normalised mean region features of store ``rows``: (len(rows), D) float32; zero rows for images
    without regions."""
    blocks = list(_read(functools.partial(_mean_features_of, store), rows, workers, progress, "features"))
    vectors = np.concatenate(blocks) if blocks else np.zeros((0, store.feature_dim), np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _weighted_intersections(queries, by_class):
    """Sum over classes of min(query weight, image weight), for each query and each image sharing a
    class with it: the products of a sparse product with min in place of times (CSR, duplicates summed)."""
    q = queries.tocoo()
    starts = by_class.indptr[q.col]
    counts = by_class.indptr[q.col + 1] - starts
    positions = np.repeat(starts, counts) + ragged_arange(counts)
    minima = np.minimum(np.repeat(q.data, counts), by_class.data[positions])
    return sp.csr_matrix((minima, (np.repeat(q.row, counts), by_class.indices[positions])),
                         shape=(queries.shape[0], by_class.shape[1]))


class _LabelOverlap:
    """Per chunk of query images: similarity to every image sharing a label, reduced to the top k."""

    def __init__(self, labels, similarity, weighted_metric, k, tie_rank):
        self.metric = "jaccard" if similarity == "jaccard" else f"weighted_{weighted_metric}"
        if self.metric == "jaccard":
            labels = (labels > 0).astype(np.float32)
        elif self.metric == "weighted_cosine":
            norms = np.sqrt(np.asarray(labels.multiply(labels).sum(1)).ravel())
            labels = sp.diags(1 / np.maximum(norms, 1e-12)).astype(np.float32) @ labels
        self.labels, self.by_class = sp.csr_matrix(labels), sp.csr_matrix(labels.T)
        self.totals = np.asarray(self.labels.sum(1), np.float32).ravel()
        self.k, self.tie_rank = k, tie_rank

    def scores(self, queries):
        """(len(queries), pool) CSR of similarities to the images sharing a label."""
        if self.metric == "weighted_jaccard":
            shared = _weighted_intersections(self.labels[queries], self.by_class)
        else:
            shared = self.labels[queries] @ self.by_class
        if self.metric != "weighted_cosine":  # |a ∩ b| / |a ∪ b| = shared / (total_a + total_b - shared)
            rows = np.repeat(queries, np.diff(shared.indptr))
            shared.data = shared.data / (self.totals[rows] + self.totals[shared.indices] - shared.data)
        return shared

    def __call__(self, queries):
        scores = self.scores(queries)
        return [top_k_row(scores.indices[a:b], scores.data[a:b], self.k, self.tie_rank, np.array([query]))
                for query, a, b in zip(queries, scores.indptr[:-1], scores.indptr[1:])]


def similar_by_labels(labels, k, queries=None, similarity="jaccard", weighted_metric="cosine", chunk_size=2048,
                      max_products=MAX_PRODUCTS, seed=0, workers=1, progress=False):
    """For each pool image in ``queries`` (default all), the ``k`` other images of the pool (the rows of
    ``labels``, from :func:`read_labels`) with the most similar labels: (indices, scores), (Q, k) arrays,
    best first, -1 and 0 where fewer images share a label. ``seed`` orders equal scores."""
    if similarity not in SIMILARITIES or weighted_metric not in WEIGHTED_METRICS:
        raise ValueError(f"similarity must be one of {SIMILARITIES} and weighted_metric one of {WEIGHTED_METRICS}")
    queries = np.arange(labels.shape[0]) if queries is None else np.asarray(queries, np.int64)
    tie_rank = np.random.default_rng(seed).permutation(labels.shape[0])
    work = _LabelOverlap(labels, similarity, weighted_metric, k, tie_rank)
    spans = plan_chunks(np.ones(len(queries), np.int64), product_costs(work.labels[queries], work.labels),
                        chunk_size, max_products)
    results = map_chunks(work, [queries[a:b] for a, b in spans], [b - a for a, b in spans], workers, progress,
                         "images")
    return top_k_arrays((found for chunk in results for found in chunk), len(queries), k)


def similar_by_features(vectors, k, queries=None, chunk_size=2048, nlist=0, nprobe=16, seed=0, workers=1,
                        progress=False):
    """As :func:`similar_by_labels` by the cosine of ``vectors`` (from :func:`read_mean_features`) in a
    faiss inner-product index; images without regions (zero vectors) neither query nor answer."""
    queries = np.arange(len(vectors)) if queries is None else np.asarray(queries, np.int64)
    indexed = np.flatnonzero(vectors.any(1))
    asking = queries[vectors[queries].any(1)]
    if not len(asking):
        return top_k_arrays([], len(queries), k)
    index = faiss_index(vectors[indexed], nlist, nprobe, seed, workers)
    tie_rank = np.random.default_rng(seed).permutation(len(vectors))
    m = min(k + 1, len(indexed))  # one more: the image itself comes back too
    found = index_top_k(index, lambda a, b: vectors[asking[a:b]], len(asking), m, k, tie_rank, asking[:, None],
                        chunk_size, progress, "images", ids=indexed)
    return top_k_arrays((next(found) if vectors[query].any() else _NOTHING for query in queries), len(queries), k)


def retrieve_image_items(store, captions, start, end, k, by="labels", similarity="jaccard", weighted_metric="cosine",
                         conf_thresh=0.2, chunk_size=2048, max_products=MAX_PRODUCTS, nlist=0, nprobe=16, seed=0,
                         workers=1, progress=False):
    """cmcl_raw items (``{"image_id", "score"}``) of captions[start:end], and statistics. The pool is the
    images of all ``captions`` (rows of ``store``); the queries are the images of captions[start:end]."""
    pool_ids = list(dict.fromkeys(c["image_id"] for c in captions))
    image_of, _ = group_ids([c["image_id"] for c in captions])
    rows = store_rows(store, pool_ids)
    queries = np.unique(image_of[start:end])
    if by == "labels":
        labels = read_labels(store, rows, conf_thresh, workers, progress)
        indices, scores = similar_by_labels(labels, k, queries, similarity, weighted_metric, chunk_size, max_products,
                                            seed, workers, progress)
        summary = {"images_without_labels": int((labels.getnnz(1)[queries] == 0).sum()),
                   "labels_per_image": round(float(labels.getnnz(1)[queries].mean()), 3) if len(queries) else 0.0}
    elif by == "features":
        vectors = read_mean_features(store, rows, workers, progress)
        indices, scores = similar_by_features(vectors, k, queries, chunk_size, nlist, nprobe, seed, workers, progress)
        summary = {"images_without_regions": int((~vectors[queries].any(1)).sum())}
    else:
        raise ValueError(f"--by must be labels or features, got {by!r}")
    per_image = {int(q): [{"image_id": pool_ids[j], "score": round(float(s), 6)} for j, s in zip(row, row_scores)
                          if j >= 0] for q, row, row_scores in zip(queries, indices, scores)}
    items = [per_image[int(image)] for image in image_of[start:end]]
    return items, dict(images=len(pool_ids), query_images=len(queries),
                       query_images_without_items=sum(1 for v in per_image.values() if not v), **summary)
