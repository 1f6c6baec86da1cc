"""Metrics of a ``unimo_snli_ve`` or ``unimo_sentence_prediction`` checkpoint on a labeled split:
accuracy and Matthews correlation (CoLA's metric) for classification, Pearson and Spearman
correlation for regression (STS-B) (``unimo-eval-classification``)."""
import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import matthews_corrcoef

from ..common.artifacts import atomic_output
from .labeled_predictions import predict_split


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


def evaluate_split(model, task, split, batch_size=64, progress=True):
    """The predictions of ``split`` in item order as a GLUE submission shows them (label names, or
    regression values to 3 decimals), and the split's metrics (None for an unlabeled split)."""
    logits, dataset = predict_split(model, task, split, batch_size, progress)
    regression = task.target_kind == "regression"
    predicted = logits.squeeze(-1).numpy() if regression else logits.argmax(-1).numpy()
    shown = [f"{v:.3f}" for v in predicted] if regression else [task.labels[i] for i in predicted]
    if dataset.targets is None:
        return shown, None
    gold = np.asarray(dataset.targets.values)
    return shown, regression_metrics(predicted, gold) if regression else classification_metrics(predicted, gold)


if __name__ == "__main__":  # the command moved; say where instead of doing nothing
    raise SystemExit("this is a library module now: run unimo-eval-classification (or python -m unimo_plugin.cli.eval_classification)")
