"""Import detector region features (bottom-up-attention TSV, UNIMO TSV, per-image .npz) into a
memory-mapped region store (see unimo_plugin/formats/region_store.py).

Examples::

    unimo-import-regions trainval_36.tsv.0 trainval_36.tsv.1 -o data/coco_regions
    unimo-import-regions feats_npz/ -o data/cc_regions --num-shards 8 --shard-id 3
    unimo-import-regions feats_npz/ -o data/cc_regions --num-shards 8 --merge
"""
from ..formats.region_store import FEATURE_DTYPES
from ..preprocess.regions.region_import import FORMATS, import_regions
from ..preprocess.regions.region_shards import print_shard_results
from .runner import bad_input_exits, command_parser, run
from .shared_args import add_run_args

EPILOG = """\
Without --shard-id, every shard runs in turn in this process. Outputs are atomic: a store
appears with its OUTPUT.manifest.json only when complete, so rerunning the same command
resumes an interrupted run. Malformed input is reported as FILE:LINE: reason."""


def get_parser():
    parser = command_parser("unimo-import-regions", __doc__, epilog=EPILOG)
    parser.add_argument("inputs", nargs="+",
                        help="TSV files (read in the order given), or folders of .npz files (for npz)")
    parser.add_argument("-o", "--output", required=True, help="the store directory to write")
    parser.add_argument("--format", default="auto", choices=("auto",) + FORMATS,
                        help="input format; auto: npz for folders, else bua_tsv or unimo_tsv by the "
                             "column count (6 or 7) of the first line (default: %(default)s)")
    parser.add_argument("--feature-dim", type=int, default=2048,
                        help="region feature size D (default: %(default)s)")
    parser.add_argument("--dtype", default="float16", choices=FEATURE_DTYPES,
                        help="stored dtype of features and cls_probs; float32 keeps the input bit-exact "
                             "(default: %(default)s)")
    parser.add_argument("--max-boxes", type=int,
                        help="keep only the first N boxes of each image, in input order (default: all)")
    parser.add_argument("--num-classes", type=int,
                        help="class count C of cls_probs (unimo_tsv, npz) (default: inferred from the first image)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip and count malformed lines/files instead of stopping at the first one")
    return add_run_args(parser)


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser):
        results = import_regions(
            args.inputs, args.output, fmt=args.format, feature_dim=args.feature_dim, dtype=args.dtype,
            max_boxes=args.max_boxes, num_classes=args.num_classes, skip_bad=args.skip_bad,
            num_shards=args.num_shards, shard_id=args.shard_id, workers=args.workers, merge=args.merge,
            overwrite=args.overwrite, progress=not args.no_progress)
    print_shard_results(results, "bad")


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
