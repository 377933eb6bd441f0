"""The held-out robustness suite runs for every family at a small size (issue 12, item 6).

Each family's ``benchmarks/robust_<family>.py`` draws random problems, fits them with
homfact's defaults and with the family's peer.  Here every family runs two held-out draws at
small sizes: no draw may crash, every metric must be finite, and the driver's summary must
agree with the trials.  The success rates and ratios themselves are reported by
``python benchmarks/robustness.py`` (20 draws, full sizes) in ``benchmarks/README.md``.
"""

from __future__ import annotations

import math
import warnings

import pytest
from test_benchmarks_smoke import _load

robustness = _load("robustness")


@pytest.mark.parametrize("family", robustness.FAMILIES)
def test_family_runs_on_held_out_draws(family, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = robustness.run_family(family, [robustness.HELD_OUT_START,
                                             robustness.HELD_OUT_START + 1], small=True)
    assert res["n"] == 2 and res["crashes"] == 0, [t.get("crash") for t in res["trials"]]
    for t in res["trials"]:
        for key in ("error", "error_peer", "time", "time_peer"):
            assert math.isfinite(float(t[key])) and float(t[key]) >= 0, (key, t)
        assert isinstance(t["success"], bool) and isinstance(t["params"], dict)
    assert res["successes"] == sum(t["success"] for t in res["trials"])
    worst = max(t["time"] / t["time_peer"] if t["time_peer"] > 0 else math.inf
                for t in res["trials"])
    assert res["worst_time_ratio"] == pytest.approx(worst)


def test_summary_reports_the_worst_case_and_its_seed():
    rows = [{"seed": 100, "success": True, "error": 1.0, "error_peer": 2.0, "time": 3.0,
             "time_peer": 1.0},
            {"seed": 101, "success": False, "error": 4.0, "error_peer": 2.0, "time": 1.0,
             "time_peer": 1.0}]
    s = robustness.summarize(rows)
    assert s["successes"] == 1 and s["success_rate"] == 0.5
    assert s["worst_error_ratio"] == 2.0 and s["worst_error_ratio_seed"] == 101
    assert s["worst_time_ratio"] == 3.0 and s["worst_time_ratio_seed"] == 100
