"""Retrieve sentence-level hard negatives for CMCL (X-) by TF-IDF similarity.

For each caption of PAIRS/SPLIT.captions.jsonl: the K captions of OTHER images closest in TF-IDF cosine
(scikit-learn TfidfVectorizer fitted on all captions of the split), skipping any caption whose cosine
with a true caption of the image reaches --duplicate-threshold or that equals one after normalisation
(lower case, punctuation dropped), and offering each text once. The output is a cmcl_raw file (one line
per caption, in caption order) with items
  {"text": ..., "level": "sentence", "swapped": {"kind": "retrieved", "caption_id": ..., "image_id": ...},
   "score": cosine}
and a manifest beside it; build_cmcl_sidecars.py turns it into pretraining sidecars.

The exact search multiplies each chunk of captions with all captions as sparse matrices: its time grows
with how many captions share a word with a caption, so words found in most captions make it quadratic
(--max-df 0.1 or --stop-words english remove them). --faiss searches a faiss index of the TF-IDF vectors
randomly projected to --faiss-dim dimensions instead (flat, or IVF with --nlist for millions of captions)
and scores the candidates it finds exactly: approximate, as it misses some of the exact top K.

--workers N shares the exact search among N processes; --faiss uses N threads.

  unimo-retrieve-negatives --pairs data-bin/coco --split train --per-caption 5 --workers 8
  unimo-retrieve-negatives --pairs data-bin/cc --faiss --nlist 4096 --num-shards 4 --shard-id 0
  unimo-retrieve-negatives --pairs data-bin/cc --faiss --nlist 4096 --num-shards 4 --merge
"""
from ..preprocess.cmcl.tfidf_negatives import negative_items, run_retrieval, tfidf_negatives
from .retrieval_args import add_faiss_args, add_retrieval_args, add_tfidf_args
from .runner import bad_input_exits, command_parser, run

WHAT = "negatives/tfidf"


def get_parser():
    parser = command_parser("unimo-retrieve-negatives", __doc__,
                            epilog=f"<what> in the default output name: {WHAT.replace('/', '.')}")
    add_retrieval_args(parser)
    parser.add_argument("--duplicate-threshold", type=float, default=0.95,
                        help="skip candidates whose cosine with any true caption of the image is at least this: "
                             "they would be false negatives (default: %(default)s)")
    add_tfidf_args(parser)
    parser.add_argument("--faiss", action="store_true",
                        help="take candidates from a faiss inner-product index over randomly projected TF-IDF "
                             "vectors instead of the exact sparse search (for very large splits)")
    parser.add_argument("--faiss-dim", type=int, default=256,
                        help="--faiss: dimensions of the sparse random projection; more find more of the exact "
                             "neighbours, and cost memory and search time (default: %(default)s)")
    parser.add_argument("--candidates", type=int,
                        help="--faiss: nearest neighbours taken per caption, pooled over its image and scored "
                             "exactly (default: 4K + 16)")
    add_faiss_args(parser, "--faiss")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)

    def retrieve(captions, start, end):
        indices, scores = tfidf_negatives(
            [c["text"] for c in captions], [c["image_id"] for c in captions], args.per_caption,
            args.duplicate_threshold, args.chunk_size, query_range=(start, end), faiss=args.faiss,
            faiss_dim=args.faiss_dim, candidates=args.candidates, nlist=args.nlist, nprobe=args.nprobe, seed=args.seed,
            workers=args.workers, max_products=args.max_products, progress=not args.no_progress,
            stop_words=args.stop_words, max_df=args.max_df, min_df=args.min_df, sublinear_tf=args.sublinear_tf)
        return negative_items(captions, indices, scores), {}

    with bad_input_exits(parser, ImportError):  # ImportError: an optional package
        run_retrieval(args, WHAT, "text", retrieve)


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
