"""How the scoring scripts report: a metric table on stdout and, on request, the same as JSON."""
import json
from typing import Dict

from ..common.artifacts import atomic_output


def print_scores(title: str, scores: Dict[str, float]):
    print(title)
    print(f"{'metric':<12}{'value':>8}")
    for name, value in scores.items():
        print(f"{name:<12}{value:>8.2f}")


def write_scores_json(path: str, record: dict):
    """Written atomically: a reader never sees half a file."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
