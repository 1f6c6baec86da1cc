#!/usr/bin/env python3
"""Write a region store holding some images of another, copied block by block: no second extraction.

E.g. the image-only pretraining corpus DATA/images/train of the training images of a caption set,
from the store the captions were binarized against. The ids come from a file (one image id per line,
in the order wanted) or from a caption split's SPLIT.captions.jsonl (its images, in the order of their
first caption). Examples::

    python data_scripts/subset_regions.py regions/coco -o DATA/images/train --captions DATA/pairs/train.captions.jsonl
    python data_scripts/subset_regions.py regions/coco -o regions/coco_5k --ids five_thousand_ids.txt
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from unimo_plugin.common.artifacts import InputError  # noqa: E402
from unimo_plugin.formats.caption_sets import CAPTIONS_SUFFIX, read_caption_records  # noqa: E402
from unimo_plugin.formats.region_store import read_id_list, subset_region_store  # noqa: E402


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", help="the region store to copy images from")
    parser.add_argument("-o", "--output", required=True, help="the store directory to write (atomically)")
    ids = parser.add_mutually_exclusive_group(required=True)
    ids.add_argument("--ids", metavar="FILE", help="image ids to keep, one per line, in the order wanted")
    ids.add_argument("--captions", metavar="FILE",
                     help=f"a caption split's SPLIT{CAPTIONS_SUFFIX} (binarize_captions.py): keep its images, in the "
                          "order of their first caption")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    try:
        if args.ids:
            image_ids = read_id_list(args.ids)
        else:
            if not args.captions.endswith(CAPTIONS_SUFFIX):
                parser.error(f"--captions takes a SPLIT{CAPTIONS_SUFFIX} file")
            split = os.path.basename(args.captions)[:-len(CAPTIONS_SUFFIX)]
            captions = read_caption_records(os.path.dirname(args.captions) or ".", split)
            image_ids = list(dict.fromkeys(caption["image_id"] for caption in captions))
        store = subset_region_store(args.store, image_ids, args.output, os.path.abspath(args.ids or args.captions))
    except (InputError, ValueError, FileNotFoundError) as e:
        sys.exit(f"subset_regions: error: {e}")
    print(f"{store.path}: {len(store)} images, {int(store.num_boxes.sum())} boxes, from {args.store}")


if __name__ == "__main__":
    main()
