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


def train_tiny_pretraining(data, save_dir, max_update, *extra):
    """Pretrain ``unimo_tiny`` on a ``synthetic_corpora`` DATA dir with fairseq-train's own main, in this
    process (seconds, where a fairseq-train process takes longer to start than to train); returns the path
    of its last checkpoint."""
    import os

    from fairseq import options
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq_cli import train

    from .synthetic_corpora import FEATURE_DIM, NUM_CLASSES

    plugin = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = [str(data), "--user-dir", plugin, "--task", "unimo_pretrain", "--arch", "unimo_tiny",
            "--criterion", "unimo_pretrain", "--region-feature-dim", str(FEATURE_DIM),
            "--num-region-classes", str(NUM_CLASSES), "--tokens-per-sample", "64", "--max-tokens", "1500",
            "--max-regions", "600", "--encoder-layers", "2", "--encoder-embed-dim", "64",
            "--encoder-ffn-embed-dim", "128", "--optimizer", "adam", "--lr", "1e-3", "--lr-scheduler", "inverse_sqrt",
            "--warmup-updates", "5", "--dropout", "0.0", "--attention-dropout", "0.0", "--max-update", str(max_update),
            "--log-format", "simple", "--log-interval", "50", "--cpu", "--seed", "7", "--save-dir", str(save_dir),
            "--no-epoch-checkpoints", "--num-workers", "0", "--disable-validation", *map(str, extra)]
    train.main(convert_namespace_to_omegaconf(options.parse_args_and_arch(options.get_training_parser(), args)))
    return os.path.join(str(save_dir), "checkpoint_last.pt")
