"""Metrics of a ``unimo_snli_ve`` or ``unimo_sentence_prediction`` checkpoint on a labeled split:
accuracy and Matthews correlation (CoLA's metric) for classification, Pearson and Spearman
correlation for regression (STS-B).

    unimo-eval-classification CHECKPOINT --data DATA --split valid
    unimo-eval-classification CHECKPOINT --data glue/MNLI --split test \\
        --predictions MNLI-m.tsv       # GLUE submission file: index<TAB>prediction
"""
from ..evaluation.classification import evaluate_split, write_predictions
from ..evaluation.labeled_predictions import load_finetuned
from ..formats.labeled_sets import read_records
from .labeled_args import add_evaluation_args
from .runner import bad_input_exits, command_parser, run


def get_parser():
    parser = command_parser("unimo-eval-classification", __doc__)
    add_evaluation_args(parser)
    parser.add_argument("--predictions", help="write one prediction per item here (GLUE submission format)")
    return parser


def main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    with bad_input_exits(parser):
        model, task = load_finetuned(args.checkpoint, args.data, args.region_store, args.cpu)
        predictions, metrics = evaluate_split(model, task, args.split, args.batch_size, not args.no_progress)
        if args.predictions:
            write_predictions(args.predictions, predictions, read_records(task.data_dir, args.split))
    if args.predictions:
        print(f"wrote {len(predictions)} predictions to {args.predictions}")
    if metrics is None:
        print(f"{args.split} is unlabeled: no metrics")
        return None
    print(f"{task.manifest['task']} {args.split} ({len(predictions)} items): "
          + ", ".join(f"{name} {value:.2f}" for name, value in metrics.items()))
    return metrics


def cli_main():
    run(main)


if __name__ == "__main__":
    cli_main()
