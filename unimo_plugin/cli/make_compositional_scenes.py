"""Write a caption split of the compositional scene language (unimo_plugin/testing/compositional_scenes.py):
text and ground truth only, with words and templates unlike the sample data's, to check that CMCL
rewriting generalises. Writes OUT/SPLIT.captions.jsonl and OUT/SPLIT.scenes.json, the oracle's input.

Example::

    unimo-make-compositional-scenes --out comp --split train --images 1000
    unimo-rewrite-captions --pairs comp --split train
    unimo-grade-negatives --pairs comp --split train \\
        --oracle unimo_plugin.testing.compositional_scenes:Oracle --oracle-arg comp/train.scenes.json
"""
from ..testing.compositional_scenes import write_split
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-make-compositional-scenes", __doc__)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder of the split's files")
    parser.add_argument("--split", default="train", help="name of the split (default: %(default)s)")
    parser.add_argument("--images", type=int, default=1000, help="scenes to draw (default: %(default)s)")
    parser.add_argument("--captions-per-image", type=int, default=5, help="(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the scenes and captions (default: %(default)s)")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.images < 1 or args.captions_per_image < 1:
        parser.error("--images and --captions-per-image must be >= 1")
    with bad_input_exits(parser):
        scenes = write_split(args.out, args.split, args.seed, args.images, args.captions_per_image)
    print(f"{args.images} scenes: {scenes}")


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
