"""Load a fine-tuned checkpoint with its task and run its head over a labeled split, in item order:
what the VQA, SNLI-VE and GLUE evaluation commands share."""
import torch
from fairseq import utils
from tqdm import tqdm

from .retrieval import load_model_and_task


def load_finetuned(checkpoint, data, region_store=None, cpu=False):
    """(model in eval mode, on CUDA unless ``cpu``; task) of ``checkpoint`` reading ``data`` (and
    ``region_store`` instead of the one its manifest names)."""
    overrides = {"data": data, "init_from_roberta": None, "pretrained": None}
    if region_store:
        overrides["region_store"] = region_store
    model, task = load_model_and_task(checkpoint, overrides)
    model = model.eval()
    if torch.cuda.is_available() and not cpu:
        model.cuda()
    return model, task


@torch.no_grad()
def predict_split(model, task, split, batch_size=64, progress=True):
    """(logits (N, num_outputs) as float on the CPU, the split's dataset), item i in row i."""
    task.load_dataset(split)
    dataset = task.dataset(split)
    device = next(model.parameters()).device
    logits = []
    for start in tqdm(range(0, len(dataset), batch_size), desc=split, unit="batch", disable=not progress):
        batch = dataset.collater([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        net_input = utils.move_to_cuda(batch["net_input"], device) if device.type == "cuda" else batch["net_input"]
        logits.append(model(**net_input, classification_head_name=task.cfg.classification_head_name)[0].float().cpu())
    return torch.cat(logits), dataset
