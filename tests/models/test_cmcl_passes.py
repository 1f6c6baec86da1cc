"""CMCL's single-modal passes: however they are batched (packed, duplicates encoded once), a training
step gives the losses and gradients of the implementation they replaced, which encoded every image of
a CmclBatch in one padded pass and every text in another; and every item's representation is that of
the item encoded alone, unpadded.

The fixed batch is a real pair batch of the synthetic corpora (masked LM, masked regions or seq2seq
in the joint pass), whose CMCL items are edited so that duplicates occur as in real batches: two
captions of one image, a retrieved image that is another anchor's image, a retrieved text that is
another anchor's caption; texts of 3 to 12 tokens and images of 3 to 6 regions, so that padding and
packing both matter.
"""
import pytest
import torch

from unimo_plugin.criterions.unimo_pretrain import UnimoPretrainCriterion, UnimoPretrainCriterionConfig
from unimo_plugin.criterions.unimo_retrieval import UnimoRetrievalCriterion, UnimoRetrievalCriterionConfig
from unimo_plugin.data.cmcl_batch import CmclBatch
from unimo_plugin.data.pretrain.pair_corpus import collate_cmcl
from unimo_plugin.models.cross_encoder import HEAD_NAME, retrieval_head
from unimo_plugin.models.unimo import UnimoModel
from unimo_plugin.tasks.unimo_pretrain import UnimoPretrainConfig, UnimoPretrainTask
from unimo_plugin.testing import synthetic_corpora
from unimo_plugin.testing.tiny_models import build_unimo, random_regions, random_text


def replaced_passes(self, batch: CmclBatch):
    """The implementation these passes replaced: one padded pass over every image of the batch, one over
    every text (with the padding masks, which the pooling of ``--pooling mean`` reads)."""
    _, image, image_extra = self.extract_features(regions=batch.regions, boxes=batch.boxes,
                                                  region_padding_mask=batch.region_padding_mask)
    text, _, text_extra = self.extract_features(batch.texts)
    return {"cmcl_image": self.pooled_image(image, image_extra["padding_mask"]),
            "cmcl_text": self.pooled_text(text, text_extra["padding_mask"]),
            "cmcl_temperature": self.cmcl_temperature()}


@pytest.fixture(scope="module")
def pair_batch(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cmcl_passes"))
    synthetic_corpora.build(root, synthetic_corpora.dictionary(), num_images=16, num_negatives=3)
    task = UnimoPretrainTask.setup_task(UnimoPretrainConfig(data=root, seed=5, modality_ratios="pair:1",
                                                            train_subset="train", update_freq=[1]))
    task.load_dataset("train")
    mix = task.datasets["train"]
    # captions 2k and 2k+1 describe image k: take both captions of images 0 and 1, one of image 7 and 2
    positions = {int(mix.draw[p]) - int(mix.offsets[mix.names.index("pair")]): p for p in range(len(mix))}
    samples = [mix[positions[i]] for i in (0, 1, 2, 3, 14, 5)]
    items = [s["cmcl"] for s in samples]
    assert items[0]["image_row"] == items[1]["image_row"] == 0 and items[2]["image_row"] == 1
    assert items[4]["image_row"] == 7 and items[5]["image_row"] == 2
    assert len(items[0]["images"]) == 1 and torch.equal(items[0]["images"][0]["features"], items[4]["image"]["features"])
    items[4]["images"] = [items[5]["image"]]  # retrieved images that are other anchors' images (image 7's by the data)
    items[2]["texts"] = [items[5]["caption"]]  # a retrieved text that is another anchor's caption
    items[3]["negatives"] = items[3]["negatives"][:1] + [items[3]["caption"][:3]]  # <s> w w: 3 tokens
    items[5]["paraphrases"] = [torch.cat([items[5]["caption"][:-1], items[5]["caption"][1:]])]  # 2x as long
    for it in items:
        it["image"] = dict(it["image"], features=it["image"]["features"].clone(), boxes=it["image"]["boxes"].clone())
    items[2]["image"]["features"] = items[2]["image"]["features"][:3]  # fewer regions than the others
    items[2]["image"]["boxes"] = items[2]["image"]["boxes"][:3]
    batch = mix.collater(samples)
    batch["cmcl"] = collate_cmcl(items, task.source_dictionary.pad())
    lengths = batch["cmcl"].texts.ne(task.source_dictionary.pad()).sum(1)
    regions = (~batch["cmcl"].region_padding_mask).sum(1)
    assert lengths.min() == 3 and lengths.max() >= 12 and regions.min() == 3 and regions.max() >= 6
    return task, batch


def _model(dictionary, **overrides):
    torch.manual_seed(0)
    fields = dict(region_feature_dim=synthetic_corpora.FEATURE_DIM, num_region_classes=synthetic_corpora.NUM_CLASSES,
                  max_positions=64, dropout=0.0, attention_dropout=0.0)
    fields.update(overrides)
    return build_unimo(dictionary, **fields).train()


def _step(criterion, model, batch):
    loss, _, log = criterion(model, batch)
    loss.backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return loss.detach(), log, grads


def _assert_same_step(new, old):
    (loss, log, grads), (want_loss, want_log, want_grads) = new, old
    torch.testing.assert_close(loss, want_loss, rtol=1e-5, atol=1e-6)
    assert log.keys() == want_log.keys()
    for key, value in want_log.items():
        torch.testing.assert_close(torch.as_tensor(log[key]).float(), torch.as_tensor(value).float(), rtol=1e-5,
                                   atol=1e-5, msg=lambda m: f"{key}: {m}")
    assert grads.keys() == want_grads.keys()
    for key, value in want_grads.items():
        torch.testing.assert_close(grads[key], value, rtol=1e-4, atol=3e-5, msg=lambda m: f"{key}: {m}")


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_pretraining_step_has_the_losses_and_gradients_of_the_replaced_passes(pair_batch, monkeypatch, pooling):
    task, batch = pair_batch
    criterion = UnimoPretrainCriterion(UnimoPretrainCriterionConfig(cmcl_hard_weight=1.0), task)
    model = _model(task.source_dictionary, pooling=pooling)
    new = _step(criterion, model, batch)
    assert new[1]["cmcl_count"] == 6 and new[1]["mlm_count"] + new[1]["mrm_feat_count"] > 0
    with monkeypatch.context() as patch:
        patch.setattr(UnimoModel, "_single_modal_passes", replaced_passes)
        old = _step(criterion, model, batch)
    _assert_same_step(new, old)


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_every_item_is_encoded_as_if_alone(pair_batch, pooling):
    task, batch = pair_batch
    pad = task.source_dictionary.pad()
    model = _model(task.source_dictionary, pooling=pooling)
    cmcl = CmclBatch.of(batch["cmcl"])
    _, extra = model(**batch["net_input"], cmcl_inputs=cmcl)
    with torch.no_grad():
        for i, tokens in enumerate(cmcl.texts):
            alone = model.pooled_text(model.extract_features(tokens[tokens.ne(pad)][None])[0])
            torch.testing.assert_close(extra["cmcl_text"][i], alone[0], rtol=1e-5, atol=1e-5)
        for i, padded in enumerate(cmcl.region_padding_mask):
            real = ~padded
            alone = model.pooled_image(model.extract_features(regions=cmcl.regions[i][real][None],
                                                              boxes=cmcl.boxes[i][real][None])[1])
            torch.testing.assert_close(extra["cmcl_image"][i], alone[0], rtol=1e-5, atol=1e-5)


def test_retrieval_bi_encoder_step_has_the_losses_and_gradients_of_the_replaced_passes(dictionary, monkeypatch):
    """unimo_retrieval's bi-encoder loss runs the same passes over its groups' positive pairs; two groups
    share an image, as two captions of one image do."""
    g = torch.Generator().manual_seed(3)
    groups, size = 4, 3
    features, boxes = random_regions(groups * size, 5, 12, g)
    features[size:2 * size], boxes[size:2 * size] = features[:size], boxes[:size]  # groups 0 and 1: one image
    mask = torch.zeros(groups * size, 5, dtype=torch.bool)
    mask[2 * size:, 3:] = True  # fewer regions in groups 2 and 3
    tokens = random_text(dictionary, [int(n) for n in torch.randint(4, 11, (groups * size,), generator=g)], g)
    batch = {"net_input": {"src_tokens": tokens, "regions": features, "boxes": boxes, "region_padding_mask": mask},
             "num_candidates": size, "num_wrong_images": 1, "image_rows": torch.tensor([0, 0, 1, 2]),
             "ntokens": int(tokens.ne(1).sum()), "nsentences": groups}
    criterion = UnimoRetrievalCriterion(UnimoRetrievalCriterionConfig(bi_encoder_weight=0.5), None)
    model = _model(dictionary, region_feature_dim=12)
    model.register_classification_head(HEAD_NAME, retrieval_head(32, 0.0))
    new = _step(criterion, model, batch)
    with monkeypatch.context() as patch:
        patch.setattr(UnimoModel, "_single_modal_passes", replaced_passes)
        old = _step(criterion, model, batch)
    _assert_same_step(new, old)
