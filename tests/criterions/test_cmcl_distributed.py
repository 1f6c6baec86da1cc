"""CMCL across workers (2 gloo processes): the all-gathered loss and gradients equal one process on
the concatenated batch. (How batches are dealt to workers: data/test_pretrain_data.py; the whole
trainer path: training/test_distributed_training.py.)"""
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from unimo_plugin.criterions.cmcl import cmcl_loss
from unimo_plugin.data.cmcl_batch import CmclBatch

DIM = 8
SPLIT = (4, 2)  # anchors per rank: unequal, to exercise the padding of the gather


def candidates(image, text, positive, valid, rows):
    """A CMCL batch of these candidates, without inputs (the loss reads none)."""
    none = torch.zeros(0)
    return CmclBatch(texts=none, regions=none, boxes=none, region_padding_mask=none, candidate_image=image,
                     candidate_text=text, candidate_positive=positive, candidate_valid=valid, image_rows=rows)


def make_batch(seed, anchors):
    """Anchors' inputs plus one positive text and one negative text per anchor."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(anchors, DIM, generator=g)
    texts = torch.randn(3 * anchors, DIM, generator=g)  # anchors, positives, negatives
    a = torch.arange(anchors)
    rows = torch.randint(0, 4, (anchors,), generator=g)  # repeated images: same-image exclusion
    batch = candidates(torch.stack([a, a], 1), torch.stack([a + anchors, a + 2 * anchors], 1),
                       torch.tensor([[True, False]]).repeat(anchors, 1), torch.ones(anchors, 2, dtype=torch.bool), rows)
    return images, texts, batch


def concat(parts):
    """One batch holding the ranks' batches, with candidate indices shifted."""
    images = torch.cat([p[0] for p in parts])
    texts_anchor = torch.cat([p[1][: len(p[0])] for p in parts])
    texts_side = torch.cat([p[1][len(p[0]):] for p in parts])
    total, side_start, a_start, shifted = len(images), 0, 0, []
    for images_r, texts_r, batch in parts:
        n = len(images_r)
        shifted.append(batch._replace(candidate_image=batch.candidate_image + a_start,
                                      candidate_text=batch.candidate_text - n + total + side_start))
        a_start += n
        side_start += len(texts_r) - n
    merged = candidates(*(torch.cat([getattr(b, f"candidate_{k}") for b in shifted])
                          for k in ("image", "text", "positive", "valid")),
                        torch.cat([b.image_rows for b in shifted]))
    return images, torch.cat([texts_anchor, texts_side]), merged


def loss_and_grads(projection, images, texts, batch, group=None):
    projection.zero_grad()
    loss, correct, _ = cmcl_loss(projection(images), projection(texts), batch, torch.tensor(0.1), group=group)
    loss.backward()
    return loss.detach(), projection.weight.grad.clone()


def worker(rank, world, init_file, results):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    torch.manual_seed(0)
    projection = torch.nn.Linear(DIM, DIM)
    parts = [make_batch(10 + r, n) for r, n in enumerate(SPLIT)]
    loss, grad = loss_and_grads(projection, *parts[rank], group=dist.group.WORLD)
    dist.all_reduce(loss)
    dist.all_reduce(grad)
    if rank == 0:
        results.put((loss.item(), grad.tolist()))  # plain values: tensors would share memory
    dist.destroy_process_group()


@pytest.mark.slow
def test_gathered_cmcl_equals_single_process(tmp_path):
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.start_processes(worker, args=(2, str(tmp_path / "init"), results), nprocs=2, join=True, start_method="spawn")
    loss, grad = results.get()

    torch.manual_seed(0)
    projection = torch.nn.Linear(DIM, DIM)
    want_loss, want_grad = loss_and_grads(projection, *concat([make_batch(10 + r, n) for r, n in enumerate(SPLIT)]))
    assert loss == pytest.approx(want_loss.item(), rel=1e-5)
    torch.testing.assert_close(torch.tensor(grad), want_grad, rtol=1e-5, atol=1e-5)
