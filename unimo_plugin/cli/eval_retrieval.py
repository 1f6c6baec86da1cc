"""Zero-shot image-text retrieval with the CMCL similarity (cosine of pooled [IMG] and pooled <s>,
each modality encoded alone), on a caption split of a pretraining DATA dir.

    unimo-eval-retrieval CHECKPOINT --data DATA --split test

Prints image->text and text->image recall@k beside the chance level.
"""
from ..evaluation.retrieval import evaluate_zero_shot
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-eval-retrieval", __doc__)
    parser.add_argument("checkpoint", help="a unimo checkpoint (e.g. checkpoints/checkpoint_best.pt)")
    parser.add_argument("--data", required=True, help="pretraining DATA dir (dict.txt, pairs/)")
    parser.add_argument("--pair-data", help="caption dataset dir (default DATA/pairs)")
    parser.add_argument("--split", default="test", help="caption split to evaluate")
    parser.add_argument("--max-regions", type=int, default=100, help="regions kept per image")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10], help="recall cut-offs")
    parser.add_argument("--batch-size", type=int, default=64, help="images or captions per forward pass")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser):
        recall, chance, split = evaluate_zero_shot(args.checkpoint, args.data, args.pair_data, args.split,
                                                   args.max_regions, args.ks, args.batch_size)
    print(f"zero-shot retrieval on {split['prefix']}: {split['images']} images, {split['captions']} captions "
          f"(CMCL similarity)")
    print(f"{'':>6}{'image->text':>14}{'chance':>10}{'text->image':>14}{'chance':>10}")
    for k in args.ks:
        print(f"R@{k:<4}{recall[k][0]:>14.1f}{chance[k][0]:>10.1f}{recall[k][1]:>14.1f}{chance[k][1]:>10.1f}")
    return recall, chance


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
