"""Fixtures shared by every test, and the thread settings. Helpers (tiny models, synthetic data,
running commands) live in unimo_plugin.testing."""
import os

import pytest
import torch

import unimo_plugin  # noqa: F401  (registers the plugin)
from unimo_plugin.testing.tiny_models import make_dictionary

# One intra-op thread in the tests and in every CLI they start (inherited through the environment):
# tiny models gain nothing from more, spinning OpenMP threads slow every process down badly when the
# cores are shared (measured: 2 s vs 220 s for one short training run), and results computed in the
# test process and in a subprocess stay bit-identical.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)


@pytest.fixture
def dictionary():
    return make_dictionary()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
