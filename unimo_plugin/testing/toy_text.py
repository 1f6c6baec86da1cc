"""A tiny compositional text corpus for CLI tests of the text path."""
import random

from .vocabulary import COLOURS, RELATIONS, SHAPES


def write_toy_corpus(path, num_lines, seed):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(num_lines):
            f.write(f"a {rng.choice(COLOURS)} {rng.choice(SHAPES)} is {rng.choice(RELATIONS)} "
                    f"a {rng.choice(COLOURS)} {rng.choice(SHAPES)} .\n")
