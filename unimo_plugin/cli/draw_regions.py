"""Draw the regions a store holds for one image on that image, to eyeball an import or extraction.

Each box is labelled with its top detector class and confidence when the store has class
probabilities, else with its row within the image. Example::

    unimo-draw-regions data/coco_regions 391895 val2014/COCO_val2014_000000391895.jpg \\
        -o regions.png --labels objects_vocab.txt --top 10
"""
from PIL import Image

from ..common.artifacts import atomic_output
from ..formats.region_store import RegionStore
from ..preprocess.regions.region_drawing import draw_stored_regions, read_labels
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-draw-regions", __doc__)
    parser.add_argument("store", help="region store directory")
    parser.add_argument("image_id", help="the image's id in the store")
    parser.add_argument("image", help="the image file (boxes are rescaled if its size differs from the stored one)")
    parser.add_argument("-o", "--output", required=True, help="PNG file to write")
    parser.add_argument("--labels", help="class names, one per line, in class-index order (default: indices)")
    parser.add_argument("--top", type=int, help="draw only the N most confident boxes (default: all)")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser, KeyError):  # KeyError: an image id the store lacks
        store = RegionStore(args.store)
        regions = store[store.row_of(args.image_id)]
        labels = None
        if args.labels is not None and store.num_classes is not None:
            labels = read_labels(args.labels, store.num_classes)
        image = Image.open(args.image)
        image.load()
    drawn, texts = draw_stored_regions(image, regions, labels, args.top)
    if (image.width, image.height) != (regions.width, regions.height):
        print(f"note: {args.image} is {image.width}x{image.height}, the store says "
              f"{regions.width}x{regions.height}: boxes rescaled")
    with atomic_output(args.output) as tmp:
        drawn.save(tmp, format="PNG")
    print(f"{args.output}: {len(texts)} of {len(regions.boxes)} boxes: {', '.join(texts)}")


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
