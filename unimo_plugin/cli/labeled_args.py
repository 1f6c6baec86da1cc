"""Options and reporting shared by the ``prepare_*.py`` scripts that write labeled sets."""
from ..formats.bpe import add_bpe_args


def add_labeled_output_args(parser):
    parser.add_argument("--output-dir", metavar="DIR", required=True,
                        help="written atomically as a whole, manifest at DIR.manifest.json; the task's DATA")
    parser.add_argument("--dict", metavar="FILE", required=True,
                        help="fairseq dict.txt of pretraining (RoBERTa's for real runs); copied into DIR")
    parser.add_argument("--workers", type=int, default=1, help="processes for BPE encoding")
    add_bpe_args(parser)
    return parser


def print_labeled_summary(manifest):
    for split, counts in manifest["splits"].items():
        images = f" of {counts['images']} images" if "images" in counts else ""
        print(f"{split}: {counts['items']} items{images}, {counts['input0']['tokens']} tokens in input0"
              f"{'' if counts['labeled'] else ' (unlabeled)'}")
