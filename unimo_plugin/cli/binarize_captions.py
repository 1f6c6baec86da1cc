"""Binarize image captions into per-split fairseq datasets tied to a region store.

Inputs: Karpathy split JSON (dataset_coco.json / dataset_flickr30k.json; splits train, val, test,
restval) and/or image_id<TAB>caption TSV (Conceptual Captions, SBU; split named by --split).
OUTPUT_DIR gets, per split: SPLIT.bin/.idx (caption tokens, same BPE + dictionary path as
binarize_text.py, one caption per item), SPLIT.image_rows.npy (int64 row of each caption's image in
the region store) and SPLIT.captions.jsonl (caption_id, image_id, text). OUTPUT_DIR.manifest.json
names the region store and counts captions, images and skipped captions.

  unimo-binarize-captions --input dataset_coco.json --merge-restval \\
      --region-store regions/coco --output-dir data-bin/coco_captions --dict dict.txt \\
      --gpt2-encoder-json encoder.json --gpt2-vocab-bpe vocab.bpe --workers 8
  unimo-binarize-captions --input cc_train.tsv cc_val.tsv --split train valid \\
      --region-store regions/cc --output-dir data-bin/cc --dict dict.txt ... --skip-missing
  # sharded: add --num-shards N --shard-id K to each run, then merge once:
  unimo-binarize-captions --merge --output-dir data-bin/cc --num-shards N
"""
from ..preprocess.captions.caption_binarizer import binarize_captions, merge_caption_shards
from ..preprocess.captions.caption_sources import FORMATS, ID_FIELDS
from .runner import bad_input_exits, command_parser, run
from .shared_args import add_bpe_args, add_sharding_args, bpe_config


def get_parser():
    parser = command_parser("unimo-binarize-captions", __doc__)
    parser.add_argument("--input", metavar="FILE", nargs="+", help="caption files, read in order")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="input format; auto: Karpathy JSON if a file starts with '{', else TSV. "
                             "Karpathy's 'val' split is written as 'valid', fairseq's validation split")
    parser.add_argument("--split", nargs="+", default=["train"], metavar="NAME",
                        help="split of the TSV inputs: one name for all, or one per --input file")
    parser.add_argument("--id-field", choices=ID_FIELDS, default="auto",
                        help="Karpathy image id field; auto: cocoid, else imgid, else filename. A filename "
                             "gives its stem, the id extract_regions.py gives an image file")
    parser.add_argument("--merge-restval", action="store_true",
                        help="put Karpathy's restval images into train (the usual 113k-image COCO train set)")
    parser.add_argument("--region-store", metavar="DIR",
                        help="region store (region_store.py) whose rows the captions' images refer to")
    parser.add_argument("--skip-missing", action="store_true",
                        help="drop captions whose image is not in the region store (counted in the manifest) "
                             "instead of failing")
    parser.add_argument("--output-dir", metavar="DIR", required=True,
                        help="written atomically; manifest at DIR.manifest.json (shards: DIR.shardK-of-N)")
    parser.add_argument("--dict", metavar="FILE", help="fairseq dict.txt (RoBERTa's for real runs)")
    parser.add_argument("--merge", action="store_true",
                        help="instead of binarizing, merge the --num-shards complete shards of --output-dir")
    add_bpe_args(parser)
    add_sharding_args(parser)
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser):
        if args.merge:
            manifest = merge_caption_shards(args.output_dir, args.num_shards)
        else:
            if not (args.input and args.region_store and args.dict):
                parser.error("--input, --region-store and --dict are required unless --merge")
            manifest = binarize_captions(
                args.input, args.output_dir, args.region_store, args.dict, bpe_config(args), fmt=args.format,
                tsv_splits=args.split, id_field=args.id_field, merge_restval=args.merge_restval,
                skip_missing=args.skip_missing, workers=args.workers, num_shards=args.num_shards,
                shard_id=args.shard_id)
    for split, counts in sorted(manifest["splits"].items()):
        print(f"{split}: {counts['captions']} captions of {counts['images']} images, {counts['tokens']} tokens")
    print(f"skipped {manifest['skipped_missing']} captions whose image is not in {manifest['region_store']}")


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
