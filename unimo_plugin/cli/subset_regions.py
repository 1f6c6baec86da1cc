"""Write a region store holding some images of another, copied block by block: no second extraction.

E.g. the image-only pretraining corpus DATA/images/train of the training images of a caption set,
from the store the captions were binarized against. The ids come from a file (one image id per line,
in the order wanted) or from a caption split's SPLIT.captions.jsonl (its images, in the order of their
first caption). Examples::

    unimo-subset-regions regions/coco -o DATA/images/train --captions DATA/pairs/train.captions.jsonl
    unimo-subset-regions regions/coco -o regions/coco_5k --ids five_thousand_ids.txt
"""
import os

from ..formats.caption_sets import CAPTIONS_SUFFIX, read_caption_records
from ..formats.region_store import read_id_list, subset_region_store
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-subset-regions", __doc__)
    parser.add_argument("store", help="the region store to copy images from")
    parser.add_argument("-o", "--output", required=True, help="the store directory to write (atomically)")
    ids = parser.add_mutually_exclusive_group(required=True)
    ids.add_argument("--ids", metavar="FILE", help="image ids to keep, one per line, in the order wanted")
    ids.add_argument("--captions", metavar="FILE",
                     help=f"a caption split's SPLIT{CAPTIONS_SUFFIX} (unimo-binarize-captions): keep its images, in "
                          "the order of their first caption")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.captions and not args.captions.endswith(CAPTIONS_SUFFIX):
        parser.error(f"--captions takes a SPLIT{CAPTIONS_SUFFIX} file")
    with bad_input_exits(parser):
        if args.ids:
            image_ids = read_id_list(args.ids)
        else:
            split = os.path.basename(args.captions)[:-len(CAPTIONS_SUFFIX)]
            captions = read_caption_records(os.path.dirname(args.captions) or ".", split)
            image_ids = list(dict.fromkeys(caption["image_id"] for caption in captions))
        store = subset_region_store(args.store, image_ids, args.output, os.path.abspath(args.ids or args.captions))
    print(f"{store.path}: {len(store)} images, {int(store.num_boxes.sum())} boxes, from {args.store}")
    return store


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
