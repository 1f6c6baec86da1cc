"""Mine hard negatives for retrieval fine-tuning (unimo_retrieval --hard-negatives) with a checkpoint's
CMCL bi-encoder similarity: cosine of pooled [IMG] and pooled <s>, each modality encoded alone.

For the captions of PAIRS/SPLIT (binarize_captions.py's output) it writes PAIRS/SPLIT.retrieval_negatives/
(or --output): per caption the store rows of its N most similar OTHER images, per image its N most
similar captions of OTHER images, with a manifest beside it. The checkpoint may be a pretraining
(unimo_pretrain) or a retrieval one; only the shared transformer and poolers are used.

The forward passes are sharded: --num-shards N --shard-id K embeds one contiguous share of the images and
captions into OUTPUT.embeddings.shardK-of-N (run one per GPU or machine), then --merge searches the top N
once every shard is complete. Without --shard-id every shard runs in turn and the search follows. A
complete shard or output is skipped, so a rerun resumes.

  unimo-mine-retrieval-negatives checkpoints/pretrain.pt --data DATA --split train -n 20
  unimo-mine-retrieval-negatives CKPT --data DATA --num-shards 4 --shard-id 0   # ... 3
  unimo-mine-retrieval-negatives CKPT --data DATA --num-shards 4 --merge
"""
import logging
import os

import torch
from fairseq.data import data_utils

from ..evaluation.retrieval import load_model_and_task
from ..formats.mined_negatives import mined_negatives_path
from ..formats.region_store import open_region_store_of, read_rows
from ..preprocess.finetune.negative_mining import mine_split
from .runner import bad_input_exits, command_parser, run
from .shared_args import add_run_args


def get_parser():
    parser = command_parser("unimo-mine-retrieval-negatives", __doc__)
    parser.add_argument("checkpoint", help="UNIMO checkpoint whose bi-encoder similarity ranks the negatives")
    parser.add_argument("--data", required=True, help="DATA dir with dict.txt")
    parser.add_argument("--pair-data", metavar="DIR", help="caption dataset dir (default DATA/pairs)")
    parser.add_argument("--split", default="train", help="caption split to mine (default: %(default)s)")
    parser.add_argument("--output", metavar="DIR", help="default PAIRS/SPLIT.retrieval_negatives")
    parser.add_argument("-n", "--num-negatives", type=int, default=20,
                        help="negatives kept per caption and per image, hardest first; training draws the "
                             "task's --num-wrong-images and --num-wrong-captions among them (default: %(default)s)")
    parser.add_argument("--max-regions", type=int, default=100, help="regions kept per image (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="images or captions per forward pass")
    parser.add_argument("--chunk-size", type=int, default=4096,
                        help="queries searched together: memory grows with it (default: %(default)s)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="device of the forward passes (default: %(default)s)")
    add_run_args(parser)
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.num_negatives < 1:
        parser.error(f"--num-negatives must be positive, got {args.num_negatives}")
    pair_dir = args.pair_data or os.path.join(args.data, "pairs")
    output = args.output or mined_negatives_path(pair_dir, args.split)
    with bad_input_exits(parser):
        logging.getLogger("fairseq").setLevel(logging.WARNING)  # loading a model logs its whole config
        model, task = load_model_and_task(args.checkpoint, {"data": args.data})
        model = model.to(args.device)
        prefix = os.path.join(pair_dir, args.split)
        captions = data_utils.load_indexed_dataset(prefix, task.source_dictionary, combine=False)
        if captions is None:
            raise FileNotFoundError(f"{prefix}.bin: no caption split {args.split!r} in {pair_dir}")
        image_rows = read_rows(prefix, len(captions))
        manifests = mine_split(
            model, task.source_dictionary, captions, image_rows, open_region_store_of(pair_dir), output,
            args.num_negatives, args.num_shards, args.shard_id, args.merge, args.overwrite, args.max_regions,
            args.batch_size, args.chunk_size, not args.no_progress, checkpoint=os.path.abspath(args.checkpoint),
            pairs=os.path.abspath(pair_dir), split=args.split)
    for manifest in manifests:
        what = (f"{manifest['negative_images_per_caption']} images per caption, "
                f"{manifest['negative_captions_per_image']} captions per image" if "negative_images_per_caption"
                in manifest else f"embedded images {manifest['image_range']}, captions {manifest['caption_range']}")
        print(f"{manifest['kind']}: {what}")
    print(f"output: {output}")


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
