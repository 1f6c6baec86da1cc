"""The CMCL bi-encoder: images and captions embedded apart (pooled ``[IMG]`` of the regions alone, pooled
``<s>`` of the text alone, L2-normalised), whose inner products are the CMCL similarity. Zero-shot
retrieval evaluation ranks with it, and negative mining picks hard negatives with it."""
import numpy as np
import torch
from fairseq.data import data_utils
from tqdm import tqdm

from ..data.collate import collate_regions
from ..data.region_inputs import load_regions


@torch.no_grad()
def embed_split(model, dictionary, captions, image_rows, store, max_regions, batch_size=64, progress=True):
    """Normalised pooled embeddings of the split's distinct images (``np.unique(image_rows)``) and of
    every caption (a token dataset), and each caption's index into those images."""
    rows = np.unique(image_rows)
    model.eval()
    device = next(model.parameters()).device
    images = []
    for start in tqdm(range(0, len(rows), batch_size), desc="images", unit="batch", disable=not progress):
        batch = collate_regions([load_regions(store, int(r), max_regions) for r in rows[start:start + batch_size]])
        _, states, extra = model.extract_features(regions=batch["features"].to(device), boxes=batch["boxes"].to(device),
                                                  region_padding_mask=batch["padding_mask"].to(device))
        images.append(torch.nn.functional.normalize(model.pooled_image(states, extra["padding_mask"]), dim=-1)
                      .float().cpu())
    texts = []
    bos = torch.tensor([dictionary.bos()])
    for start in tqdm(range(0, len(captions), batch_size), desc="captions", unit="batch", disable=not progress):
        tokens = [torch.cat([bos, captions[i].long()]) for i in range(start, min(start + batch_size, len(captions)))]
        states, _, extra = model.extract_features(data_utils.collate_tokens(tokens, dictionary.pad()).to(device))
        texts.append(torch.nn.functional.normalize(model.pooled_text(states, extra["padding_mask"]), dim=-1)
                     .float().cpu())
    caption_images = np.searchsorted(rows, image_rows)  # index into the distinct images
    return torch.cat(images), torch.cat(texts), caption_images
