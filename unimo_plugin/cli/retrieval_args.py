"""Options the CMCL retrieval commands (``unimo-retrieve-negatives``, ``-images``, ``-texts``) share."""
from ..preprocess.cmcl.search import MAX_PRODUCTS
from .shared_args import add_sharding_args


def add_retrieval_args(parser, per_caption=5):
    """Options every CMCL retrieval command shares: the split, the output, K, chunking, seed, shards."""
    parser.add_argument("--pairs", metavar="DIR", required=True,
                        help="caption dataset (binarize_captions.py's output dir) holding SPLIT.captions.jsonl")
    parser.add_argument("--split", default="train", help="caption split to retrieve for (default: %(default)s)")
    parser.add_argument("--output", metavar="FILE",
                        help="cmcl_raw JSON-lines file, one line per caption of the split, with a manifest "
                             "beside it (default: PAIRS/SPLIT.cmcl_raw.<what>.jsonl, see below)")
    parser.add_argument("--per-caption", metavar="K", type=int, default=per_caption,
                        help="items kept per caption, best first (default: %(default)s)")
    parser.add_argument("--chunk-size", type=int, default=2048,
                        help="queries searched together: memory grows with it (default: %(default)s)")
    parser.add_argument("--max-products", type=int, default=MAX_PRODUCTS,
                        help="cap on the multiply-adds of one chunk's sparse product, about 12 bytes of memory "
                             "each; a chunk holds fewer queries when theirs are common (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the order among equal scores, random projections and faiss clustering: the "
                             "same seed gives the same file (default: %(default)s)")
    parser.add_argument("--merge", action="store_true",
                        help="instead of retrieving, concatenate the --num-shards complete shard files of OUTPUT")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_sharding_args(parser)
    return parser


def add_tfidf_args(parser):
    """scikit-learn TfidfVectorizer's options."""
    parser.add_argument("--stop-words", choices=("english",),
                        help="drop scikit-learn's English stop words, which include spatial words such as 'top', "
                             "'behind' and 'above' (default: keep every word)")
    parser.add_argument("--max-df", type=float, default=1.0,
                        help="drop words found in more than this fraction of the texts; the main speed lever of the "
                             "exact search (default: %(default)s)")
    parser.add_argument("--min-df", type=int, default=1,
                        help="drop words found in fewer texts than this (default: %(default)s)")
    parser.add_argument("--sublinear-tf", action="store_true", help="term frequency 1 + log(tf) instead of tf")
    return parser


def add_faiss_args(parser, when):
    """The faiss index options; ``when`` names the option that uses faiss, for the help."""
    parser.add_argument("--nlist", type=int, default=0,
                        help=f"{when}: IVF clusters (about 4*sqrt(N) for millions of entries); 0 = exact flat index "
                             f"(default: %(default)s)")
    parser.add_argument("--nprobe", type=int, default=16,
                        help=f"{when} with --nlist: clusters searched per query (default: %(default)s)")
    return parser
