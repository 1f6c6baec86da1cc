"""Metrics of a ``unimo_snli_ve`` or ``unimo_sentence_prediction`` checkpoint on a labeled split:
accuracy and Matthews correlation (CoLA's metric) for classification, Pearson and Spearman
correlation for regression (STS-B).

    python -m unimo_plugin.evaluation.classification CHECKPOINT --data DATA --split valid
    python -m unimo_plugin.evaluation.classification CHECKPOINT --data glue/MNLI --split test \\
        --predictions MNLI-m.tsv       # GLUE submission file: index<TAB>prediction
"""
import argparse

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import matthews_corrcoef

from ..common.artifacts import atomic_output
from ..formats.labeled_sets import read_records
from .labeled_predictions import add_evaluation_args, load_finetuned, predict_split


def classification_metrics(predicted, gold):
    """{accuracy, mcc} in %."""
    predicted, gold = np.asarray(predicted), np.asarray(gold)
    return {"accuracy": 100.0 * float(np.mean(predicted == gold)), "mcc": 100.0 * matthews_corrcoef(gold, predicted)}


def regression_metrics(predicted, gold):
    """{pearson, spearman} in %."""
    return {"pearson": 100.0 * pearsonr(predicted, gold)[0], "spearman": 100.0 * spearmanr(predicted, gold)[0]}


def write_predictions(path, predictions, records):
    """GLUE's submission layout: a header, then ``index<TAB>prediction`` (item number without an index)."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write("index\tprediction\n")
        for i, (prediction, record) in enumerate(zip(predictions, records)):
            f.write(f"{record.get('index', i)}\t{prediction}\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_evaluation_args(parser)
    parser.add_argument("--predictions", help="write one prediction per item here (GLUE submission format)")
    args = parser.parse_args(argv)
    model, task = load_finetuned(args)
    logits, dataset = predict_split(model, task, args.split, args.batch_size, not args.no_progress)
    regression = task.target_kind == "regression"
    predicted = logits.squeeze(-1).numpy() if regression else logits.argmax(-1).numpy()
    if args.predictions:
        shown = [f"{v:.3f}" for v in predicted] if regression else [task.labels[i] for i in predicted]
        write_predictions(args.predictions, shown, read_records(task.data_dir, args.split))
        print(f"wrote {len(shown)} predictions to {args.predictions}")
    if dataset.targets is None:
        print(f"{args.split} is unlabeled: no metrics")
        return None
    gold = np.asarray(dataset.targets.values)
    metrics = regression_metrics(predicted, gold) if regression else classification_metrics(predicted, gold)
    print(f"{task.manifest['task']} {args.split} ({len(gold)} items): "
          + ", ".join(f"{name} {value:.2f}" for name, value in metrics.items()))
    return metrics


if __name__ == "__main__":
    main()
