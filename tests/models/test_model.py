"""The unimo model: masks, padding invariance, [IMG], heads, activation checkpointing."""
import pytest
import torch

from unimo_plugin.models.masks import attention_mask
from unimo_plugin.testing.tiny_models import build_unimo, random_regions, random_text


def test_seq2seq_mask_pattern():
    pad = torch.tensor([[False, False, False, False, True]])
    tgt = torch.tensor([[False, False, True, True, False]])
    m = attention_mask(pad, tgt)[0, 0].int().tolist()
    assert m == [
        [1, 1, 0, 0, 0],  # source sees source only
        [1, 1, 0, 0, 0],
        [1, 1, 1, 0, 0],  # target sees source + itself
        [1, 1, 1, 1, 0],  # ... + earlier targets
        [1, 1, 0, 0, 1],  # a padded query is a source query that also sees itself; nothing sees it
    ]


def test_bidirectional_mask_without_padding_is_none():
    assert attention_mask(torch.zeros(2, 5, dtype=torch.bool)) is None


def _seq2seq_states(model, tokens, target_mask, regions=None, boxes=None):
    text, image, _ = model.extract_features(tokens, regions, boxes, target_mask=target_mask)
    return text, image


@pytest.mark.parametrize("with_image", [False, True])
def test_seq2seq_mask_blocks_the_future(dictionary, with_image):
    model = build_unimo(dictionary).eval()
    tokens = random_text(dictionary, [12])
    target = torch.zeros_like(tokens, dtype=torch.bool)
    target[:, 6:] = True
    regions, boxes = random_regions(1, 3, 12) if with_image else (None, None)
    text, image = _seq2seq_states(model, tokens, target, regions, boxes)

    other_word = dictionary.nspecial if tokens[0, 8] != dictionary.nspecial else dictionary.nspecial + 1
    changed = tokens.clone()
    changed[0, 8] = other_word
    text2, image2 = _seq2seq_states(model, changed, target, regions, boxes)
    torch.testing.assert_close(text2[:, :8], text[:, :8], rtol=0, atol=0)  # source and earlier targets
    assert not torch.allclose(text2[:, 8:], text[:, 8:])
    if with_image:
        torch.testing.assert_close(image2, image, rtol=0, atol=0)

    source_changed = tokens.clone()
    source_changed[0, 2] = dictionary.nspecial if tokens[0, 2] != dictionary.nspecial else dictionary.nspecial + 1
    text3, _ = _seq2seq_states(model, source_changed, target, regions, boxes)
    assert not torch.allclose(text3[:, 6:], text[:, 6:], atol=1e-4)
    if with_image:
        text4, _ = _seq2seq_states(model, tokens, target, regions + 1.0, boxes)
        assert not torch.allclose(text4[:, 6:], text[:, 6:], atol=1e-4)


def test_padding_invariance_and_batching(dictionary):
    model = build_unimo(dictionary).eval()
    g = torch.Generator().manual_seed(1)
    lengths, num_regions = [9, 5, 7], [4, 2, 3]
    tokens = random_text(dictionary, lengths, g)
    features, boxes = random_regions(3, 4, 12, g)
    region_pad = torch.arange(4)[None, :] >= torch.tensor(num_regions)[:, None]
    text_b, image_b, _ = model.extract_features(tokens, features, boxes, region_pad)
    for i, (n, r) in enumerate(zip(lengths, num_regions)):
        text_1, image_1, _ = model.extract_features(tokens[i:i + 1, :n], features[i:i + 1, :r], boxes[i:i + 1, :r])
        torch.testing.assert_close(text_b[i, :n], text_1[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(image_b[i, :r + 1], image_1[0], rtol=1e-5, atol=1e-5)
    # padded regions hold garbage: real outputs must not care
    garbage = features.clone()
    garbage[region_pad] = 1e3
    text_g, image_g, _ = model.extract_features(tokens, garbage, boxes, region_pad)
    torch.testing.assert_close(text_g, text_b)
    torch.testing.assert_close(image_g[~torch.cat([torch.zeros(3, 1, dtype=torch.bool), region_pad], 1)],
                               image_b[~torch.cat([torch.zeros(3, 1, dtype=torch.bool), region_pad], 1)])



@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_pooled_heads_are_padding_invariant(dictionary, pooling):
    """A classification head reads the pooled text and image; with ``--pooling mean`` they average the
    real positions only, so a batch gives each item what it gets alone, and a mean differs from <s>."""
    from unimo_plugin.models.heads import SumFusionHead

    model = build_unimo(dictionary, pooling=pooling)
    model.register_classification_head("head", SumFusionHead(32, 16, 3))
    model.eval()
    g = torch.Generator().manual_seed(2)
    lengths, num_regions = [9, 5], [4, 2]
    tokens = random_text(dictionary, lengths, g)
    features, boxes = random_regions(2, 4, 12, g)
    region_pad = torch.arange(4)[None, :] >= torch.tensor(num_regions)[:, None]
    batched = model(tokens, features, boxes, region_pad, classification_head_name="head")[0]
    for i, (n, r) in enumerate(zip(lengths, num_regions)):
        alone = model(tokens[i:i + 1, :n], features[i:i + 1, :r], boxes[i:i + 1, :r],
                      classification_head_name="head")[0]
        torch.testing.assert_close(batched[i], alone[0], rtol=1e-5, atol=1e-5)
    states = model.extract_features(tokens[:1])[0]
    torch.testing.assert_close(model.pooled_text(states), model.text_pooler(
        states[:, 0] if pooling == "first" else states.mean(1)))

def test_seq2seq_padding_invariance(dictionary):
    model = build_unimo(dictionary).eval()
    tokens = random_text(dictionary, [10, 7])
    target = torch.zeros_like(tokens, dtype=torch.bool)
    target[0, 5:10] = True
    target[1, 4:7] = True
    text_b, _, _ = model.extract_features(tokens, target_mask=target)
    text_1, _, _ = model.extract_features(tokens[1:, :7], target_mask=target[1:, :7])
    torch.testing.assert_close(text_b[1, :7], text_1[0], rtol=1e-5, atol=1e-5)


def test_image_region_is_masked_mean(dictionary):
    model = build_unimo(dictionary)
    features, boxes = random_regions(2, 5, 12)
    pad = torch.tensor([[False] * 5, [False, False, True, True, True]])
    feats, bxs, pads = model.region_embeddings.prepend_image_region(features, boxes, pad)
    torch.testing.assert_close(feats[0, 0], features[0].mean(0))
    torch.testing.assert_close(feats[1, 0], features[1, :2].mean(0))
    assert bxs[:, 0].tolist() == [[0.0, 0.0, 1.0, 1.0, 1.0]] * 2
    assert pads[:, 0].tolist() == [False, False]
    torch.testing.assert_close(feats[:, 1:], features)


def test_modalities_and_head_shapes(dictionary):
    model = build_unimo(dictionary).eval()
    tokens = random_text(dictionary, [6, 4])
    features, boxes = random_regions(2, 3, 12)

    logits, extra = model(tokens)
    assert logits.shape == (2, 6, len(dictionary)) and extra["image_states"] is None
    masked = torch.zeros_like(tokens, dtype=torch.bool)
    masked[0, 1] = masked[1, 2] = True
    assert model(tokens, masked_tokens=masked)[0].shape == (2, len(dictionary))

    text, extra = model(regions=features, boxes=boxes, features_only=True)
    assert text is None and extra["image_states"].shape == (2, 4, 32)

    text, image, _ = model.extract_features(tokens, features, boxes)
    assert text.shape == (2, 6, 32) and image.shape == (2, 4, 32)
    assert model.pooled_text(text).shape == (2, 32) and (model.pooled_text(text) >= 0).all()
    assert model.pooled_image(image).shape == (2, 32) and (model.pooled_image(image) >= 0).all()
    assert model.region_feature_head(image).shape == (2, 4, 12)
    assert model.region_class_head(image).shape == (2, 4, 7)
    assert model.lm_head.weight is model.text_embeddings.embed_tokens.weight

    with pytest.raises(ValueError, match="region features have dimension 5"):
        model(regions=torch.zeros(1, 2, 5), boxes=torch.zeros(1, 2, 5))
    with pytest.raises(ValueError, match="needs text tokens, region features"):
        model()


def test_checkpoint_activations_gives_same_gradients(dictionary):
    tokens = random_text(dictionary, [8, 6])
    features, boxes = random_regions(2, 3, 12)
    grads = []
    for flag in (False, True):
        torch.manual_seed(0)
        model = build_unimo(dictionary, checkpoint_activations=flag, dropout=0.0, attention_dropout=0.0).train()
        text, image, _ = model.extract_features(tokens, features, boxes)
        (text.square().mean() + image.square().mean()).backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1])
