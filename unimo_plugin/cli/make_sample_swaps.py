"""Build the sample data's compositional swap set in SugarCrepe's format: for each caption of the held-out
images, one negative per category (replace-att, replace-obj, replace-rel, swap-att, swap-obj), kept only
when the sample's oracle finds it well-formed and false of the image. Writes OUT/replace_att.json, ...,
which unimo-eval-compositional reads.

Example::

    unimo-make-sample-swaps --scenes sample_data/raw/dataset_sample.json --split test --out sample_swaps
"""
from ..testing.sample_swaps import write_swap_set
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-make-sample-swaps", __doc__)
    parser.add_argument("--scenes", required=True, metavar="FILE", help="a sample build's raw/dataset_sample.json")
    parser.add_argument("--split", default="test", help="Karpathy split of the images (default: %(default)s)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder of the category files")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default: %(default)s)")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser):
        counts = write_swap_set(args.scenes, args.split, args.out, args.seed)
    print(f"{args.out}: " + ", ".join(f"{category} {n}" for category, n in counts.items()) + " items")
    return counts


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
