"""Zero-shot retrieval metrics against hand computations."""
import pytest
import torch

from unimo_plugin.evaluation.retrieval import chance_recall_at_k, recall_at_k


def test_recall_at_k_by_hand():
    # 3 images; captions 0,1 -> image 0, caption 2 -> image 1, caption 3 -> image 2
    caption_images = [0, 0, 1, 2]
    sim = torch.tensor([[0.1, 0.9, 0.2, 0.0],    # image 0: best caption 1 (its own)   -> i2t hit@1
                        [0.8, 0.1, 0.3, 0.2],    # image 1: best 0 (wrong), then 2     -> hit@2
                        [0.5, 0.4, 0.25, 0.1]])  # image 2: its caption 3 ranks last   -> hit@4
    r = recall_at_k(sim, caption_images, [1, 2, 4])
    # text->image: caption0 ranks its image 0 last (hit@3); caption1 image 0 (hit@1);
    # caption2 image 1 (hit@1); caption3 image 1 (wrong), then image 2 (hit@2)
    assert r[1] == pytest.approx((100 / 3, 50.0))
    assert r[2] == pytest.approx((200 / 3, 75.0))
    assert r[4] == pytest.approx((100.0, 100.0))


def test_chance_level_by_hand():
    c = chance_recall_at_k([0, 0, 1, 2], [1, 2])
    # i2t@1: image 0 has 2 of 4 captions (1/2), images 1, 2 have 1 (1/4) -> mean 1/3
    assert c[1][0] == pytest.approx(100 / 3) and c[1][1] == pytest.approx(100 / 3)
    # i2t@2: 1 - C(2,2)/C(4,2) = 5/6 for image 0; 1 - C(3,2)/C(4,2) = 1/2 for the others
    assert c[2][0] == pytest.approx(100 * (5 / 6 + 0.5 + 0.5) / 3)
    assert c[2][1] == pytest.approx(200 / 3)
