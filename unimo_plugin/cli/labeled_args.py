"""Options and reporting shared by the commands on labeled sets: the ``unimo-prepare-*`` writers and
the ``unimo-eval-vqa``/``unimo-eval-classification`` evaluations."""
from .shared_args import add_bpe_args


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


def add_evaluation_args(parser):
    parser.add_argument("checkpoint", help="a fine-tuned checkpoint (e.g. checkpoints/checkpoint_best.pt)")
    parser.add_argument("--data", required=True, help="the prepare_*.py output directory the task reads")
    parser.add_argument("--split", default="valid", help="split to evaluate")
    parser.add_argument("--region-store", help="region store of the images (default: the one in the data manifest)")
    parser.add_argument("--batch-size", type=int, default=64, help="items per forward pass")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even when CUDA is available")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser
