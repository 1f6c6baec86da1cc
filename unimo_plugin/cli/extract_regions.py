"""Extract region features from a folder of images (.jpg/.jpeg/.png, id = file stem) into a region
store (see unimo_plugin/formats/region_store.py) with a bottom-up-attention style Faster R-CNN built
from torchvision (unimo_plugin/models/region_detector.py).

Examples::

    unimo-extract-regions images/ -o data/coco_regions --weights detector.pt
    unimo-extract-regions images/ -o data/sample_regions --boxes gt_boxes.json --weights detector.pt
    unimo-extract-regions val2014/ -o data/coco_gt --boxes coco_boxes.json --weights detector.pt
    unimo-extract-regions images/ -o data/cc_regions --weights detector.pt \\
        --device cuda --batch-size 8 --workers 4 --num-shards 8 --shard-id 3
    unimo-extract-regions images/ -o data/cc_regions --weights detector.pt --num-shards 8 --merge
"""

from ..formats.region_store import FEATURE_DTYPES
from ..models.region_detector import BACKBONES
from ..preprocess.regions.region_extraction import DETECTOR_DEFAULTS, extract_regions
from ..preprocess.regions.region_shards import print_shard_results
from .runner import bad_input_exits, command_parser, run
from .shared_args import add_run_args


def get_parser():
    parser = command_parser("unimo-extract-regions", __doc__, epilog=(
        "Without --shard-id, every shard runs in turn in this process. Outputs are atomic: a store\n"
        "appears with its OUTPUT.manifest.json only when complete, so rerunning the same command\n"
        "resumes an interrupted run."))
    parser.add_argument("image_dir", help="folder of images (searched recursively unless --image-list)")
    parser.add_argument("-o", "--output", required=True, help="the store directory to write")
    parser.add_argument("--image-list", metavar="FILE",
                        help="extract only these images, in this order: one path per line, relative to IMAGE_DIR")
    parser.add_argument("--boxes", metavar="FILE",
                        help="pool these boxes instead of detecting, in original pixels: JSON {image: [[x1, y1, "
                             "x2, y2], ...]} or {image: {\"boxes\": [[x1, y1, x2, y2], ...], ...}}, or TSV lines "
                             "image<TAB>x1<TAB>y1<TAB>x2<TAB>y2; image = file name, id (file stem) or the number "
                             "in the file name (a COCO id: 391895 for COCO_val2014_000000391895.jpg)")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--weights", metavar="PATH",
                         help="detector weights: a torch.save'd state_dict of RegionDetector with the same "
                              "--backbone and --num-classes")
    weights.add_argument("--random-init", action="store_true",
                         help="use a randomly initialised detector (pipeline tests only: its features mean nothing)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --random-init (default: %(default)s)")
    detector = parser.add_argument_group("detector")
    detector.add_argument("--backbone", default=DETECTOR_DEFAULTS["backbone"], choices=BACKBONES,
                          help="ResNet of the detector: 2048-d features for resnet50/101, 512-d for "
                               "resnet18/34 (default: %(default)s, as bottom-up attention)")
    detector.add_argument("--num-classes", type=int, default=DETECTOR_DEFAULTS["num_classes"],
                          help="detector classes including background (default: %(default)s = 1600 Visual "
                               "Genome objects + background)")
    detector.add_argument("--min-size", type=int, default=DETECTOR_DEFAULTS["min_size"],
                          help="resize images to this short side (default: %(default)s)")
    detector.add_argument("--max-size", type=int, default=DETECTOR_DEFAULTS["max_size"],
                          help="... unless the long side would exceed this (default: %(default)s)")
    detector.add_argument("--proposals", type=int, default=DETECTOR_DEFAULTS["proposals"],
                          help="RPN proposals per image scored by the box head (default: %(default)s)")
    detector.add_argument("--nms-thresh", type=float, default=DETECTOR_DEFAULTS["nms_thresh"],
                          help="IoU of the per-class NMS (default: %(default)s)")
    detector.add_argument("--conf-thresh", type=float, default=DETECTOR_DEFAULTS["conf_thresh"],
                          help="keep regions whose best class confidence is at least this (default: %(default)s)")
    detector.add_argument("--min-boxes", type=int, default=DETECTOR_DEFAULTS["min_boxes"],
                          help="keep at least this many regions per image (default: %(default)s)")
    detector.add_argument("--max-boxes", type=int, default=DETECTOR_DEFAULTS["max_boxes"],
                          help="keep at most this many regions per image (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="images per detector call; mixed image sizes are zero-padded to a common size, "
                             "which slightly changes features near the right/bottom edges, so 1 makes each "
                             "image's result independent of the others (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--dtype", default="float16", choices=FEATURE_DTYPES,
                        help="stored dtype of features and class probabilities (default: %(default)s)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip and count unreadable images instead of stopping at the first one")
    return add_run_args(parser)


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.weights is None and not args.random_init:
        parser.error("no detector weights: pass --weights PATH (a RegionDetector state_dict trained for "
                     "--backbone/--num-classes), or --random-init for pipeline tests (random features)")
    config = {name: getattr(args, name) for name in DETECTOR_DEFAULTS}
    with bad_input_exits(parser):
        results = extract_regions(
            args.image_dir, args.output, config, weights=args.weights, random_init=args.random_init,
            seed=args.seed, image_list=args.image_list, boxes_file=args.boxes, batch_size=args.batch_size,
            device=args.device, dtype=args.dtype, num_shards=args.num_shards, shard_id=args.shard_id,
            workers=args.workers, merge=args.merge, overwrite=args.overwrite, skip_bad=args.skip_bad,
            progress=not args.no_progress)
    print_shard_results(results, "unreadable")


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
