"""Retrieved texts for CMCL (XT): sentences of a text corpus that say nearly what a caption says.

UNIMO pairs such a sentence with the caption's image as one more positive. Similarity is TF-IDF cosine
(fitted on corpus and captions together, searched exactly by the chunked sparse products of
search.py), or the cosine of sentence embeddings from a sentence-transformers model the user
supplies, searched with a faiss inner-product index. Corpus sentences count once (repeats under
``text_key`` are dropped); a sentence equal to a true caption of the image is skipped, as it is the
caption itself and not a retrieved text.
"""
import logging
import os

import numpy as np
from tqdm import tqdm

from ...common.text_files import iter_lines
from ...formats.cmcl_candidates import text_key
from .search import (
    MAX_PRODUCTS,
    Groups,
    faiss_index,
    fit_tfidf,
    group_ids,
    index_top_k,
    map_chunks,
    plan_chunks,
    product_costs,
    top_k_arrays,
    top_k_row,
)

logger = logging.getLogger(__name__)
ENCODERS = ("tfidf", "sentence-transformers")


def read_corpus(path):
    """The distinct sentences of a one-sentence-per-line UTF-8 file (blank lines ignored), in order of
    first appearance, and counts of what was read."""
    sentences, seen, lines = [], set(), 0
    for _, line in iter_lines(path):
        text = line.strip()
        key = text_key(text)
        if not key:
            continue
        lines += 1
        if key not in seen:
            seen.add(key)
            sentences.append(text)
    return sentences, {"corpus_sentences": lines, "corpus_repeats_dropped": lines - len(sentences)}


class SentenceTransformerEncoder:
    """L2-normalised embeddings from a sentence-transformers model directory (an optional dependency:
    ``pip install sentence-transformers``). Models are read from disk, never downloaded."""

    def __init__(self, model_path, device=None, batch_size=128):
        if not os.path.isdir(model_path):
            raise FileNotFoundError(f"{model_path}: not a directory holding a sentence-transformers model")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ImportError("--encoder sentence-transformers needs the optional package sentence-transformers "
                              "(pip install sentence-transformers)") from None
        self.model, self.batch_size = SentenceTransformer(model_path, device=device), batch_size

    def __call__(self, texts):
        return np.asarray(self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                            convert_to_numpy=True, show_progress_bar=False), np.float32)


class _TfidfSearch:
    """Per chunk of captions: TF-IDF cosines against the corpus, reduced to the top k."""

    def __init__(self, queries, corpus, excluded, k, tie_rank, min_score):
        self.queries, self.by_term, self.excluded = queries, corpus.T.tocsr(), excluded
        self.k, self.tie_rank, self.min_score = k, tie_rank, min_score

    def __call__(self, span):
        scores = self.queries[span[0]:span[1]] @ self.by_term
        return [top_k_row(scores.indices[a:b], scores.data[a:b], self.k, self.tie_rank, self.excluded[query],
                          min_score=self.min_score)
                for query, a, b in zip(range(*span), scores.indptr[:-1], scores.indptr[1:])]


def similar_texts(texts, image_ids, corpus, k, *, query_range=None, encoder=None, min_score=None, chunk_size=2048,
                  max_products=MAX_PRODUCTS, nlist=0, nprobe=16, seed=0, workers=1, progress=False, stop_words=None,
                  max_df=1.0, min_df=1, sublinear_tf=False):
    """For each of ``texts[start:end]`` (``query_range``; default all), the ``k`` most similar sentences of
    ``corpus`` (distinct, as from :func:`read_corpus`) that are not a true text of its image.

    Returns ``(indices, scores)``: (end - start, k) arrays, best first, of int64 indices into ``corpus``
    (-1 where fewer exist) and float32 cosines (0 there); scores below ``min_score`` are dropped.
    ``encoder`` (texts -> L2-normalised float32 rows, e.g. :class:`SentenceTransformerEncoder`) replaces
    TF-IDF by embeddings in a faiss index (flat, or IVF with ``nlist``/``nprobe``). ``seed`` orders equal
    scores and seeds the clustering.
    """
    if len(image_ids) != len(texts):
        raise ValueError(f"{len(image_ids)} image ids for {len(texts)} texts")
    start, end = query_range or (0, len(texts))
    if end <= start or not corpus:
        return top_k_arrays([], end - start, k)
    excluded = _true_texts_in_corpus(texts, image_ids, corpus, start, end)
    tie_rank = np.random.default_rng(seed).permutation(len(corpus))
    if encoder is None:
        found = _search_tfidf(texts, corpus, start, end, k, excluded, tie_rank, min_score, chunk_size, max_products,
                              workers, progress, dict(stop_words=stop_words, max_df=max_df, min_df=min_df,
                                                      sublinear_tf=sublinear_tf))
    else:
        found = _search_embeddings(encoder, texts, corpus, start, end, k, excluded, tie_rank, min_score, chunk_size,
                                   nlist, nprobe, seed, workers, progress)
    return top_k_arrays(found, end - start, k)


def _true_texts_in_corpus(texts, image_ids, corpus, start, end):
    """Per queried text: the sorted corpus indices of sentences equal to a true text of its image."""
    where = {text_key(sentence): i for i, sentence in enumerate(corpus)}
    image_of, num_images = group_ids(image_ids)
    images = Groups(image_of, num_images)
    per_image = {}
    for image in np.unique(image_of[start:end]):
        hits = {where.get(text_key(texts[t])) for t in images[image]} - {None}
        per_image[image] = np.array(sorted(hits), np.int64)
    return [per_image[image] for image in image_of[start:end]]


def _search_tfidf(texts, corpus, start, end, k, excluded, tie_rank, min_score, chunk_size, max_products, workers,
                  progress, tfidf_options):
    matrix = fit_tfidf(list(corpus) + list(texts), **tfidf_options)
    corpus_matrix, queries = matrix[:len(corpus)], matrix[len(corpus) + start:len(corpus) + end]
    logger.info(f"TF-IDF over {len(corpus)} corpus sentences and {len(texts)} captions: {matrix.shape[1]} terms")
    spans = plan_chunks(np.ones(end - start, np.int64), product_costs(queries, corpus_matrix), chunk_size,
                        max_products)
    # Query rows are local to the shard: so are the exclusions.
    work = _TfidfSearch(queries, corpus_matrix, excluded, k, tie_rank, min_score)
    results = map_chunks(work, spans, [b - a for a, b in spans], workers, progress, "texts")
    return (found for chunk in results for found in chunk)


def _search_embeddings(encoder, texts, corpus, start, end, k, excluded, tie_rank, min_score, chunk_size, nlist,
                       nprobe, seed, workers, progress):
    blocks = range(0, len(corpus), chunk_size)
    vectors = np.concatenate([encoder(corpus[a:a + chunk_size])
                              for a in tqdm(blocks, desc="encode corpus", unit="block", disable=not progress)])
    index = faiss_index(vectors, nlist, nprobe, seed, workers)
    m = min(len(corpus), k + max(len(e) for e in excluded))
    return index_top_k(index, lambda a, b: encoder(texts[start + a:start + b]), end - start, m, k, tie_rank, excluded,
                       chunk_size, progress, "texts", min_score=min_score)


def text_items(corpus, indices, scores):
    """cmcl_raw items (``{"text", "score"}``) of :func:`similar_texts`' result."""
    return [[{"text": corpus[j], "score": round(float(s), 6)} for j, s in zip(row, row_scores) if j >= 0]
            for row, row_scores in zip(indices, scores)]
