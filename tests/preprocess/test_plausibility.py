"""The plausibility filter's band (preprocess/cmcl/scene_graph/plausibility.py), worked out by hand."""
import pytest

from unimo_plugin.preprocess.cmcl.scene_graph.plausibility import calibrate_band, calibrate_margin


def test_symmetric_band_when_rewrites_straddle_their_captions():
    # |delta| sorted: 0.5(+) 1(-) 1.5(+) 2(-) 3(-) 4(-): the band [-2, 2] keeps 2 below and 2 above (50%);
    # [-3, 3] would keep 3 below of 5
    assert calibrate_band([0.5, -1, 1.5, -2, -3, -4]) == (2, 2)
    assert calibrate_band([1, -1, 2, -2]) == (None, None)  # balanced already: keep all


def test_one_sided_band_when_rewrites_mostly_score_below():
    # 2 rewrites above their caption allow 2 below at 50%: the 2 closest (-0.1, -0.2), margin halfway to -0.5
    deltas = [2.0, 3.0, -0.1, -0.2, -0.5, -0.9]
    assert calibrate_margin(deltas) == pytest.approx(0.35)
    # no symmetric band keeps at most half below (the ones above lie far out): one-sided
    assert calibrate_band(deltas) == (pytest.approx(0.35), None)
    assert calibrate_margin([-1.0, -2.0]) == 0.0
    with pytest.raises(ValueError, match=r"share in \(0, 1\)"):
        calibrate_band(deltas, target=1.0)
