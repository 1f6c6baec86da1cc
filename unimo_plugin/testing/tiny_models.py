"""Tiny dictionaries and UNIMO models, and random batches for them: the in-process tests' inputs."""
import torch
from fairseq.data import Dictionary
from omegaconf import OmegaConf

from ..models.unimo import UnimoConfig, UnimoModel


def make_dictionary(num_symbols=40):
    d = Dictionary()
    for i in range(num_symbols):
        d.add_symbol(str(1000 + i))
    d.add_symbol("<mask>")
    return d


class DictTask:
    """The part of a fairseq task that ``build_model`` reads."""

    def __init__(self, dictionary):
        self.source_dictionary = self.target_dictionary = dictionary


def build_unimo(dictionary, **overrides):
    fields = dict(encoder_layers=2, encoder_embed_dim=32, encoder_ffn_embed_dim=64, encoder_attention_heads=4,
                  max_positions=64, region_feature_dim=12, num_region_classes=7)
    fields.update(overrides)
    return UnimoModel.build_model(UnimoConfig(**fields), DictTask(dictionary))


def models_of_widths(task, widths, **fields):
    """The models ``task`` builds, one per encoder width; building them must leave the task as it was."""
    state = dict(vars(task))
    models = [task.build_model(OmegaConf.structured(UnimoConfig(
        _name="unimo", encoder_layers=1, encoder_embed_dim=width, encoder_ffn_embed_dim=2 * width,
        encoder_attention_heads=4, **fields))) for width in widths]
    assert vars(task) == state, "building a model changed the task"
    return models


def random_text(dictionary, lengths, generator=None):
    """Right-padded batch of ``<s> w.. </s>`` with random words."""
    batch = torch.full((len(lengths), max(lengths)), dictionary.pad())
    for i, n in enumerate(lengths):
        words = torch.randint(dictionary.nspecial, len(dictionary) - 1, (n - 2,), generator=generator)
        batch[i, :n] = torch.cat([torch.tensor([dictionary.bos()]), words, torch.tensor([dictionary.eos()])])
    return batch


def random_regions(batch_size, num_regions, feature_dim, generator=None):
    features = torch.randn(batch_size, num_regions, feature_dim, generator=generator)
    corners = torch.rand(batch_size, num_regions, 2, 2, generator=generator).sort(dim=2).values
    x1y1, x2y2 = corners[:, :, 0], corners[:, :, 1]
    area = ((x2y2 - x1y1).prod(-1, keepdim=True))
    boxes = torch.cat([x1y1, x2y2, area], dim=-1)
    return features, boxes
