"""Retrieve texts for CMCL (XT): sentences of a text corpus most similar to each caption.

For each caption of PAIRS/SPLIT.captions.jsonl: the K most similar distinct sentences of --corpus (raw text,
one sentence per line, blank lines ignored; repeated sentences count once), skipping sentences equal to a
true caption of the image after normalisation (lower case, punctuation dropped). The output is a cmcl_raw
file (one line per caption, in caption order) with items {"text": ..., "score": cosine} and a manifest
beside it; build_cmcl_sidecars.py turns it into pretraining sidecars.

--encoder tfidf (default): scikit-learn TF-IDF fitted on corpus and captions together, searched exactly by
chunked sparse products (words found in most sentences slow it down: --max-df). --encoder
sentence-transformers --model DIR: embeddings of a sentence-transformers model directory you supply
(the optional package sentence-transformers; nothing is downloaded), searched with a faiss inner-product
index (flat, or IVF with --nlist for large corpora; the corpus embeddings are held in memory).

--workers N shares the TF-IDF search among N processes; faiss uses N threads.

  unimo-retrieve-texts --pairs data-bin/coco --corpus wiki_sentences.txt --per-caption 3
  unimo-retrieve-texts --pairs data-bin/coco --corpus wiki_sentences.txt \\
      --encoder sentence-transformers --model models/all-MiniLM-L6-v2 --nlist 16384 --min-score 0.5
"""
from ..preprocess.cmcl.text_retrieval import (
    ENCODERS,
    SentenceTransformerEncoder,
    read_corpus,
    similar_texts,
    text_items,
)
from ..preprocess.cmcl.tfidf_negatives import run_retrieval
from .retrieval_args import add_faiss_args, add_retrieval_args, add_tfidf_args
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-retrieve-texts", __doc__,
                            epilog="<what> in the default output name: texts.tfidf or "
                                   "texts.sentence-transformers")
    add_retrieval_args(parser, per_caption=3)
    parser.add_argument("--corpus", metavar="FILE", required=True,
                        help="UTF-8 text, one sentence per line; blank lines are ignored")
    parser.add_argument("--min-score", type=float, help="drop sentences whose cosine is below this")
    parser.add_argument("--encoder", choices=ENCODERS, default="tfidf", help="similarity (default: %(default)s)")
    parser.add_argument("--model", metavar="DIR", help="--encoder sentence-transformers: the model directory")
    parser.add_argument("--device", help="--encoder sentence-transformers: torch device (default: the library's "
                                         "choice)")
    parser.add_argument("--batch-size", type=int, default=128,
                        help="--encoder sentence-transformers: sentences per encoding batch (default: %(default)s)")
    add_faiss_args(parser, "--encoder sentence-transformers")
    add_tfidf_args(parser)
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.encoder == "sentence-transformers" and not args.model:
        parser.error("--encoder sentence-transformers needs --model DIR")

    def retrieve(captions, start, end):
        corpus, statistics = read_corpus(args.corpus)
        encoder = (None if args.encoder == "tfidf"
                   else SentenceTransformerEncoder(args.model, args.device, args.batch_size))
        indices, scores = similar_texts(
            [c["text"] for c in captions], [c["image_id"] for c in captions], corpus, args.per_caption,
            query_range=(start, end), encoder=encoder, min_score=args.min_score, chunk_size=args.chunk_size,
            max_products=args.max_products, nlist=args.nlist, nprobe=args.nprobe, seed=args.seed,
            workers=args.workers, progress=not args.no_progress, stop_words=args.stop_words, max_df=args.max_df,
            min_df=args.min_df, sublinear_tf=args.sublinear_tf)
        return text_items(corpus, indices, scores), statistics

    with bad_input_exits(parser, ImportError):  # ImportError: an optional package
        run_retrieval(args, f"texts/{args.encoder}", "text", retrieve,
                      lambda: {"corpus": [args.corpus], "model": [args.model] if args.model else []})


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
