#!/usr/bin/env python3
"""Throughput of the CMCL text rewriting and retrieval against naive versions, side by side.

(a) Scene-graph rewriting (unimo_plugin/preprocess/cmcl/scene_graph/) of the sample data's
    captions: the script's run (spaCy ``nlp.pipe`` batches without the unneeded pipes, on 1 and on
    ``--workers`` processes) against the naive way: SceneGraphParser's ``parse(text)`` per caption,
    which calls the full spaCy pipeline once per caption, in one process. Both draw from the same
    vocabulary with the same seed, so their negatives must be identical (checked). Times include
    loading the spaCy model (in every worker).
(b) TF-IDF hard negatives (unimo_plugin/preprocess/cmcl/tfidf_negatives.py) of ``--tfidf-captions`` synthetic
    captions, 5 per image, against a naive per-query loop (one sparse product with the whole
    collection and a top-k per caption), timed on ``--naive-queries`` captions and extrapolated.
    The synthetic captions follow a Zipf-Mandelbrot law over ``--tfidf-vocab`` words (a few percent of
    captions hold the commonest content words, as in COCO), so the exact search costs what it would on
    real captions; the sample data's dozen shape and colour words would make every pair of captions
    share words.

    python benchmarks/bench_rewrite.py
    python benchmarks/bench_rewrite.py --rewrite-captions 9000 --tfidf-captions 200000 --workers 2
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unimo_plugin.formats.caption_sets import read_caption_records  # noqa: E402
from unimo_plugin.formats.cmcl_candidates import read_cmcl_raw  # noqa: E402
from unimo_plugin.preprocess.cmcl.scene_graph.parse import (  # noqa: E402
    DEFAULT_SPACY_MODEL,
    SceneGraphParser,
    add_phrasal_prepositions,
    caption_graph,
)
from unimo_plugin.preprocess.cmcl.scene_graph.rewrite import caption_negatives, true_captions_by_image  # noqa: E402
from unimo_plugin.preprocess.cmcl.scene_graph.run import rewrite_split  # noqa: E402
from unimo_plugin.preprocess.cmcl.scene_graph.vocabulary import Vocabulary  # noqa: E402
from unimo_plugin.preprocess.cmcl.search import fit_tfidf  # noqa: E402
from unimo_plugin.preprocess.cmcl.tfidf_negatives import tfidf_negatives  # noqa: E402
from unimo_plugin.testing import sample_scenes  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLE_PAIRS = os.path.join(REPO, "sample_data", "pairs")


def rewrite_captions(count, seed):
    """``count`` captions: the sample data's train split, then more scenes of the same grammar."""
    captions = read_caption_records(SAMPLE_PAIRS, "train")[:count]
    rng = np.random.default_rng(seed)
    scene = 0
    while len(captions) < count:
        image = f"bench_{scene:06d}"
        for j, text in enumerate(sample_scenes.captions(sample_scenes.sample_scene(rng), rng)):
            captions.append({"caption_id": f"{image}:{j}", "image_id": image, "text": text})
        scene += 1
    return captions[:count]


def naive_rewrite(captions, model, per_caption, seed):
    """One ``Parser.parse(text)`` per caption (its own full spaCy pipeline), then the same draws."""
    import sng_parser

    t0 = time.time()
    parser = sng_parser.Parser("spacy", model=model)
    add_phrasal_prepositions()  # as the script's parser does: the same graphs
    graphs = [caption_graph(doc, graph) for graph, doc in
              (parser.parse(c["text"], return_doc=True) for c in captions)]
    vocabulary = Vocabulary.build(graphs, [c["image_id"] for c in captions])
    true = true_captions_by_image(captions)
    items = [caption_negatives(i, c, g, vocabulary, per_caption, seed, true[c["image_id"]])[0]
             for i, (c, g) in enumerate(zip(captions, graphs))]
    return items, time.time() - t0


def bench_rewriting(args):
    captions = rewrite_captions(args.rewrite_captions, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "bench.captions.jsonl"), "w") as f:
            f.writelines(json.dumps(c) + "\n" for c in captions)
        rows = []
        for workers in sorted({1, args.workers}):
            output = os.path.join(tmp, f"negatives.{workers}.jsonl")
            t0 = time.time()
            rewrite_split(tmp, "bench", output=output, per_caption=args.per_caption, seed=args.seed,
                          spacy_model=args.spacy_model, batch_size=args.batch_size, workers=workers,
                          plausibility="none")  # the parsing and drawing compared; the filter is the same in both
            rows.append((f"nlp.pipe batches of {args.batch_size}, NER off, {workers} process(es)",
                         time.time() - t0, read_cmcl_raw(output, captions, "text")))
    naive_items, naive_seconds = naive_rewrite(captions, args.spacy_model, args.per_caption, args.seed)
    rows.insert(0, ("naive: Parser.parse(text) per caption, full pipeline, 1 process", naive_seconds, naive_items))
    t0 = time.time()
    SceneGraphParser(args.spacy_model)
    print(f"(a) scene-graph rewriting of {len(captions)} captions, {args.per_caption} negatives each "
          f"(times include loading the spaCy model: {time.time() - t0:.1f}s in each process)")
    for name, seconds, items in rows:
        same = "same negatives" if items == naive_items else "NEGATIVES DIFFER from the naive run"
        print(f"  {name:<62} {seconds:7.2f}s {len(captions) / seconds:8.0f} captions/s "
              f"x{naive_seconds / seconds:5.2f}  {same}")


def zipf_captions(count, vocab, seed, per_image=5):
    """COCO-like captions of pseudo-words: each image has 6 content words (Zipf-Mandelbrot), each of its
    captions 4 of them and 2 other words, joined by function words."""
    rng = np.random.default_rng(seed)
    images = -(-count // per_image)
    p = 1.0 / (np.arange(vocab) + 6.0)
    p /= p.sum()
    pools = rng.choice(vocab, (images, 6), p=p)
    extra = rng.choice(vocab, (images * per_image, 2), p=p)
    picks = np.argsort(rng.random((images * per_image, 6)), axis=1)[:, :4]
    function_words = np.array("a the of on in with is and at near".split())
    glue = rng.integers(len(function_words), size=(images * per_image, 6))
    texts = [" ".join(f"{function_words[g]} w{w}" for g, w in zip(glue[c], list(pools[c // per_image][picks[c]])
                                                                    + list(extra[c])))
             for c in range(count)]
    return texts, [c // per_image for c in range(count)]


def naive_tfidf(matrix, image_of, queries, k):
    """Per query: its cosine with every caption, the captions of its image removed, a top-k."""
    found = []
    for q in queries:
        scores = (matrix @ matrix[q].T).toarray().ravel()
        scores[image_of == image_of[q]] = -1
        top = np.argpartition(-scores, k)[:k]
        found.append(top[np.argsort(-scores[top], kind="stable")])
    return found


def bench_tfidf(args):
    texts, image_ids = zipf_captions(args.tfidf_captions, args.tfidf_vocab, args.seed)
    image_of = np.asarray(image_ids)
    k = args.tfidf_k
    print(f"(b) TF-IDF hard negatives, top {k} of other images, {len(texts)} captions of {image_of[-1] + 1} "
          f"images (max_df {args.max_df})")
    t0 = time.time()
    indices, _ = tfidf_negatives(texts, image_ids, k, workers=args.workers, max_df=args.max_df)
    fast = time.time() - t0
    t0 = time.time()
    matrix = fit_tfidf(texts, max_df=args.max_df)
    queries = random.Random(args.seed).sample(range(len(texts)), min(args.naive_queries, len(texts)))
    naive = naive_tfidf(matrix, image_of, queries, k)
    naive_seconds = (time.time() - t0) * len(texts) / len(queries)
    overlap = np.mean([len(set(found) & set(indices[q])) / k for q, found in zip(queries, naive)])
    print(f"  {'tfidf_negatives (chunked sparse products), ' + str(args.workers) + ' process(es)':<62} "
          f"{fast:7.2f}s {len(texts) / fast:8.0f} captions/s x{naive_seconds / fast:5.2f}")
    print(f"  {'naive per-query loop, 1 process (' + str(len(queries)) + ' queries, extrapolated)':<62} "
          f"{naive_seconds:7.2f}s {len(texts) / naive_seconds:8.0f} captions/s x 1.00")
    print(f"  the naive top-{k} agree on {100 * overlap:.1f}% of the negatives of those queries "
          "(the rest: ties, near-duplicates of a true caption)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rewrite-captions", type=int, default=4000, help="captions rewritten in (a)")
    parser.add_argument("--per-caption", type=int, default=3, help="negatives per caption in (a)")
    parser.add_argument("--batch-size", type=int, default=256, help="nlp.pipe batch size in (a)")
    parser.add_argument("--spacy-model", default=DEFAULT_SPACY_MODEL)
    parser.add_argument("--tfidf-captions", type=int, default=100_000, help="captions searched in (b)")
    parser.add_argument("--tfidf-vocab", type=int, default=10_000, help="content words of (b)'s captions")
    parser.add_argument("--tfidf-k", type=int, default=5, help="negatives per caption in (b)")
    parser.add_argument("--max-df", type=float, default=0.3,
                        help="TF-IDF drops words in more than this share of captions (the function words)")
    parser.add_argument("--naive-queries", type=int, default=1000, help="captions the naive loop of (b) runs")
    parser.add_argument("--workers", type=int, default=2, help="processes of the fast versions")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", choices=("rewrite", "tfidf"), help="leave one section out")
    args = parser.parse_args()
    if args.skip != "rewrite":
        bench_rewriting(args)
    if args.skip != "tfidf":
        bench_tfidf(args)


if __name__ == "__main__":
    main()
