"""Build the bundled sample dataset: everything ``--task unimo_pretrain`` reads, made offline in minutes.

Rendered scenes of coloured shapes (unimo_plugin/testing/sample_scenes.py) with compositional captions,
ground-truth boxes, image-only scenes, a text corpus of the same language, and a few real photographs
shipped inside scikit-image. The raw files are then run through the project's real commands, as
a user would run them, each as its own process (unimo_plugin/testing/sample_data.py):

  unimo-train-bpe          raw/text/train.txt          -> bpe/ (copied to dict.txt, encoder.json, vocab.bpe)
  unimo-binarize-text      raw/text/{train,valid}.txt  -> text/{train,valid}.bin/.idx
  unimo-extract-regions    raw/images/{train,valid}/   -> images/{train,valid}/    (ground-truth boxes)
  unimo-extract-regions    raw/scenes/                 -> pair_regions/            (ground-truth boxes)
  unimo-binarize-captions  raw/captions/*.tsv          -> pairs/{train,valid,test}.*  (rows of pair_regions/)
  unimo-extract-regions    raw/photos/                 -> photos/regions/          (detector proposals)
  unimo-binarize-captions  raw/photo_captions.tsv      -> photos/captions/test.*

raw/ also holds dataset_sample.json (Karpathy style: images[].sentences[].raw, split train/val/test,
imgid, filename, and each scene's objects: the captions of raw/captions/*.tsv, which are binarized
instead because the task's validation split is fairseq's "valid", not Karpathy's "val") and
boxes.json (every scene's ground-truth boxes, keyed by image id). No detector weights exist offline, so
regions come from a randomly initialised ResNet-18 detector (--random-init --seed): its features
still carry colour and shape (tests/testing/test_sample_data.py probes them), not semantics.

Each stage's outputs are complete iff their manifests exist, so rerunning the same command resumes
an interrupted build and skips finished stages; OUT.manifest.json is written last.

  unimo-make-sample-data                       # sample_data/, about 2 minutes on 2 cores
  unimo-make-sample-data --out /tmp/tiny --scenes 240 30 30 --image-only 40 10 --text-docs 300 30 --photos 2
"""
from ..testing.sample_data import PHOTOS, StepFailed, build, content_options
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-make-sample-data", __doc__)
    parser.add_argument("--out", default="sample_data", metavar="DIR",
                        help="output directory (default: %(default)s); the build's manifest is DIR.manifest.json")
    sizes = parser.add_argument_group("sizes")
    sizes.add_argument("--scenes", type=int, nargs=3, default=[2000, 200, 200], metavar=("TRAIN", "VALID", "TEST"),
                       help="captioned scenes per split; valid and test scenes never appear in train "
                            "(default: %(default)s)")
    sizes.add_argument("--image-only", type=int, nargs=2, default=[1000, 100], metavar=("TRAIN", "VALID"),
                       help="scenes of the image-only corpus, without captions (default: %(default)s)")
    sizes.add_argument("--text-docs", type=int, nargs=2, default=[5000, 500], metavar=("TRAIN", "VALID"),
                       help="documents (2-7 sentences about one unrendered scene) of the text-only corpus "
                            "(default: %(default)s)")
    sizes.add_argument("--photos", type=int, default=len(PHOTOS),
                       help=f"how many of the {len(PHOTOS)} bundled scikit-image photographs to caption and "
                            "extract; 0 skips the photos stage (default: %(default)s)")
    scenes = parser.add_argument_group("scenes")
    scenes.add_argument("--image-size", type=int, default=128,
                        help="side of the square scene images in pixels; the detector runs at this size "
                             "(default: %(default)s)")
    scenes.add_argument("--max-objects", type=int, default=3, choices=(1, 2, 3),
                        help="objects per scene are drawn from 1..N (default: %(default)s)")
    scenes.add_argument("--captions-per-image", type=int, default=5,
                        help="distinct captions per captioned scene; one-object scenes may get fewer, as the "
                            "grammar runs out (default: %(default)s)")
    scenes.add_argument("--seed", type=int, default=0,
                        help="seed of the scenes, captions, text and the random detector: the same seed "
                             "gives the same data (default: %(default)s)")
    parser.add_argument("--bpe-vocab-size", type=int, default=1000,
                        help="byte-level BPE vocabulary size; the small grammar runs out of merges well below "
                             "it (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="scene images per detector call (all scenes have one size, so batching does not "
                             "change features) (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2,
                        help="processes for rendering and for each command's per-item work "
                             "(default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="commands run at once when their inputs are ready; above 1 their output goes "
                             "to OUT/logs/ and only start/finish lines are shown (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide the rendering and extraction progress bars")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if min(args.scenes + args.image_only + args.text_docs) < 1 or args.photos < 0:
        parser.error("--scenes, --image-only and --text-docs need at least one item per split; --photos >= 0")
    if args.image_size < 32 or args.captions_per_image < 1 or args.workers < 1 or args.batch_size < 1 or args.jobs < 1:
        parser.error("need --image-size >= 32 and --captions-per-image, --workers, --jobs, --batch-size >= 1")
    opts = content_options(args.seed, args.scenes, args.image_only, args.text_docs, args.photos, args.image_size,
                           args.max_objects, args.captions_per_image, args.bpe_vocab_size)
    with bad_input_exits(parser, StepFailed):
        build(args.out, opts, args.workers, args.batch_size, args.jobs, not args.no_progress)


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
