"""A tiny compositional text corpus for CLI tests of the text path."""
import random

COLORS = "red green blue yellow purple orange".split()
SHAPES = "circle square triangle star".split()
RELATIONS = ["left of", "right of", "above", "below"]


def write_toy_corpus(path, num_lines, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(num_lines):
            f.write(f"a {rng.choice(COLORS)} {rng.choice(SHAPES)} is {rng.choice(RELATIONS)} "
                    f"a {rng.choice(COLORS)} {rng.choice(SHAPES)} .\n")
