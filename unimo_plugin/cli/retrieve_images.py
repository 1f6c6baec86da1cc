"""Retrieve images for CMCL (XI): images whose detected objects overlap most with a caption's image.

The pool is the images of PAIRS/SPLIT.captions.jsonl, read from the caption dataset's region store (or
--region-store). Each image gets its K most similar OTHER images of the pool, and each caption its image's
list: a cmcl_raw file (one line per caption, in caption order) with items {"image_id": ..., "score": ...}
and a manifest beside it; build_cmcl_sidecars.py turns it into pretraining sidecars.

--by labels (default) uses the detector's class probabilities: a region's label is its top class when that
is not the background (class 0) and its probability is at least --conf-thresh. --similarity jaccard
compares the sets of labels; --similarity weighted compares label histograms in which each region adds its
confidence, by --weighted-metric cosine or jaccard (sum of minima over sum of maxima). Candidates are the
images sharing at least one label. --by features, for stores without class probabilities: cosine of the
L2-normalised mean region features, searched with a faiss inner-product index.

--workers N reads the store and searches labels on N processes; faiss uses N threads.

  unimo-retrieve-images --pairs data-bin/coco --split train --per-caption 5 --workers 8
  unimo-retrieve-images --pairs data-bin/cc --by features --nlist 4096
"""
from ..common.artifacts import manifest_path
from ..formats.region_store import RegionStore, region_store_of
from ..preprocess.cmcl.image_retrieval import SIMILARITIES, WEIGHTED_METRICS, retrieve_image_items
from ..preprocess.cmcl.tfidf_negatives import run_retrieval
from .retrieval_args import add_faiss_args, add_retrieval_args
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-retrieve-images", __doc__,
                            epilog="<what> in the default output name: images.labels or images.features")
    add_retrieval_args(parser)
    parser.add_argument("--region-store", metavar="DIR",
                        help="region store of the images (default: the one the caption dataset's manifest names)")
    parser.add_argument("--by", choices=("labels", "features"), default="labels",
                        help="compare detected object labels or mean region features (default: %(default)s)")
    parser.add_argument("--similarity", choices=SIMILARITIES, default="jaccard",
                        help="--by labels: Jaccard of the label sets, or compare confidence-weighted label "
                             "histograms (default: %(default)s)")
    parser.add_argument("--weighted-metric", choices=WEIGHTED_METRICS, default="cosine",
                        help="--similarity weighted: cosine or weighted Jaccard of the histograms "
                             "(default: %(default)s)")
    parser.add_argument("--conf-thresh", type=float, default=0.2,
                        help="--by labels: lowest class probability that makes a region's top class a label "
                             "(default: %(default)s)")
    add_faiss_args(parser, "--by features")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)

    def store_path():
        return args.region_store or region_store_of(args.pairs)

    def retrieve(captions, start, end):
        # Images are looked up by id and written as ids, so the store's row order does not matter here:
        # no identity check against the captions' store (unlike the readers of store rows).
        store = RegionStore(store_path())
        return retrieve_image_items(
            store, captions, start, end, args.per_caption, by=args.by, similarity=args.similarity,
            weighted_metric=args.weighted_metric, conf_thresh=args.conf_thresh, chunk_size=args.chunk_size,
            max_products=args.max_products, nlist=args.nlist, nprobe=args.nprobe, seed=args.seed,
            workers=args.workers, progress=not args.no_progress)

    with bad_input_exits(parser, ImportError):  # ImportError: an optional package
        run_retrieval(args, f"images/{args.by}", "image_id", retrieve,
                      lambda: {"region_store": [store_path(), manifest_path(store_path())]})


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
