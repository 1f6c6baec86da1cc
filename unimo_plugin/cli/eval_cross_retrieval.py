"""Image-text retrieval with a fine-tuned cross-encoder (``unimo_retrieval``), on a caption split.

    unimo-eval-cross-retrieval CHECKPOINT --data DATA --split test [--mode exhaustive|two-stage --top-k 20]

Prints image->text and text->image R@1/5/10 (in %, as papers report them).

exhaustive: the cross-encoder scores every (image, caption) pair of the split.
two-stage: the CMCL bi-encoder similarity (pooled [IMG] and pooled <s>, each modality encoded
alone) picks each image's top-k captions and each caption's top-k images; only those pairs are
scored by the cross-encoder and reranked; candidates outside a query's top k rank below its top k
in bi-encoder order. With top-k at least the number of images and captions, both modes agree.
"""
from ..evaluation.cross_retrieval import MODES, evaluate_checkpoint
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-eval-cross-retrieval", __doc__)
    parser.add_argument("checkpoint", help="a unimo_retrieval checkpoint (e.g. checkpoints/checkpoint_best.pt)")
    parser.add_argument("--data", required=True, help="DATA dir (dict.txt, pairs/)")
    parser.add_argument("--pair-data", help="caption dataset dir (default DATA/pairs)")
    parser.add_argument("--split", default="test", help="caption split to evaluate")
    parser.add_argument("--mode", choices=MODES, default="exhaustive", help="score every pair, or rerank the "
                                                                            "bi-encoder's top k")
    parser.add_argument("--top-k", type=int, default=20, help="two-stage: candidates per query")
    parser.add_argument("--max-regions", type=int, default=100, help="regions kept per image")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10], help="recall cut-offs")
    parser.add_argument("--batch-size", type=int, default=256, help="pairs per cross-encoder forward pass")
    parser.add_argument("--cpu", action="store_true", help="stay on the CPU even when CUDA is available")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser):
        recall, cost = evaluate_checkpoint(args.checkpoint, args.data, args.pair_data, args.split, args.mode,
                                           args.top_k, args.ks, args.max_regions, args.batch_size, args.cpu,
                                           not args.no_progress)
    how = f"two-stage, top {args.top_k}" if args.mode == "two-stage" else "exhaustive"
    print(f"cross-encoder retrieval on {args.split}: {cost['images']} images, {cost['captions']} captions "
          f"({how}: {cost['pairs_scored']} pairs scored in {cost['seconds']:.1f} s)")
    print(f"{'':>6}{'image->text':>14}{'text->image':>14}")
    for k in args.ks:
        print(f"R@{k:<4}{recall[k][0]:>14.1f}{recall[k][1]:>14.1f}")
    return recall, cost


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
