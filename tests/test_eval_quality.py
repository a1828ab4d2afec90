"""Smoke test of gen.eval: a tiny sweep on the recorded texts (not the licence folder).

Checks that the float path reproduces the float models, that the golden's
counters and the quality metrics are sane, and that the report renders.
"""

import io
from pathlib import Path

import numpy as np
import pytest

from gen import eval as ev
from golden.models import MiniLM, SmolLM2
from golden.models.common import ExactAttention

DATA = Path(__file__).parent / "data"

POINT = ev.Point("scales, MSB 6+4 thr 0.1, protected token 0.6, value 0.5", "combined", msb_bits=6,
                 requant_threshold=0.1, token_keep_final=0.6, head_keep_final=1.0, value_keep=0.5,
                 **ev.SCALES, **dict(ev.PROTECT, token_protect_recent=8))
SETTINGS = dict(ev.QUICK, generate_prompt=24, generate_steps=2, long_tokens=0)


@pytest.fixture(scope="module")
def report():
    ev.limit_blas_threads(1)
    enc, dec = MiniLM(), SmolLM2()
    texts = [str(t) for t in np.load(DATA / "ref_minilm.npz")["texts"]]
    ids = np.load(DATA / "ref_smollm2.npz")["ids"]
    pairs = [t.split(". ", 1) for t in (texts[1], texts[2], texts[4])]
    queries, docs = [p[0] for p in pairs], [p[1] for p in pairs]
    return ev.run([ev.GRID[0], POINT], SETTINGS, models=(enc, dec),
                  texts=(queries, docs, [ids[:32], ids[8:40]], [ids[:27]]), log=print,
                  executor="thread", jobs=1)


def test_float_twin_reproduces_float_models(report):
    twin = report["float_twin_check"]
    assert twin["encoder"]["cosine_min"] > 1 - 1e-5
    assert abs(twin["prefill"]["perplexity_delta_fraction"]) < 1e-4
    assert abs(twin["generate"]["perplexity_delta_fraction"]) < 1e-4
    assert twin["prefill"]["top1_agreement"] == 1.0 and twin["generate"]["top1_agreement"] == 1.0
    assert report["exact"]["encoder"]["cosine_min"] > 1 - 1e-6      # the float model against itself


def test_counters_and_metrics_are_sane(report):
    full12, point = report["points"]
    for mode in ev.MODES:
        # Plain 12-bit K/V against 16-bit: exactly 4/3 of the bytes, every multiply done once.
        assert full12[mode]["dram_reduction_x"] == pytest.approx(16 / 12, rel=0.02)
        assert full12[mode]["mac_reduction_x"] == pytest.approx(1.0)
        # Pruning and 6-bit MSBs fetch less, and compute less, than 12-bit dense.
        assert point[mode]["dram_reduction_x"] > full12[mode]["dram_reduction_x"]
        assert point[mode]["mac_reduction_x"] > 1.0
        assert 0 <= point[mode]["quality_loss_fraction"]
        assert point[mode]["dram_bytes"] < point[mode]["dram_bytes_dense"]
    assert 0.5 < point["encoder"]["cosine_mean"] <= 1 + 1e-6
    assert full12["encoder"]["cosine_mean"] > 0.999
    assert abs(full12["prefill"]["perplexity_delta_fraction"]) < 0.05
    assert 0 <= point["prefill"]["top1_agreement"] <= 1
    assert point["generate"]["refetch_fraction"] is not None
    # Scales and index lists are fetched and counted.
    for mode in ev.MODES:
        assert point[mode]["dram_bytes_k_scale"] > 0 and point[mode]["dram_bytes_v_scale"] > 0
        assert point[mode]["dram_bytes"] == sum(point[mode][k] for k in ev.DRAM_KEYS)
    assert point["prefill"]["dram_bytes_index"] > 0
    # Two summarisation documents, merged: every row of both scored (the counters of both summed).
    assert point["prefill"]["rows"] == 2 * 32 * 9 * 30


def test_pareto_front_and_progress():
    def pt(loss, x):
        return {"encoder": {"quality_loss_fraction": loss, "dram_reduction_x": x}}
    pts = [pt(0.0, 1.0), pt(0.02, 3.0), pt(0.01, 2.0), pt(0.03, 2.5), pt(0.001, 1.5)]
    front = ev.pareto_front(pts, "encoder")
    assert [p["encoder"]["dram_reduction_x"] for p in front] == [1.0, 1.5, 2.0, 3.0]
    stream = io.StringIO()
    bar = ev.Progress(2, "x", stream=stream)
    bar.step()
    bar.step()
    assert stream.getvalue().endswith("2/2 tasks, 0.0 min, eta 0.0 min\n")


def test_report_renders_and_defaults_follow_budget(report):
    text = ev.render(report)
    assert "| 12-bit, no pruning |" in text and "scales, MSB 6+4 thr 0.1" in text
    d = report["defaults"]
    for mode in ev.MODES:
        if mode in d:
            assert d[mode]["quality_loss_fraction"] <= ev.QUALITY_BUDGET


def test_choose_defaults_picks_largest_reduction_within_budget():
    def pt(name, loss, x):
        return {"name": name, "config": {}, **{m: {"quality_loss_fraction": loss, "dram_reduction_x": x,
                                                   "mac_reduction_x": 1.0} for m in ev.MODES}}
    d = ev.choose_defaults([pt("a", 0.0, 1.3), pt("b", 0.009, 3.0), pt("c", 0.02, 9.0)])
    assert d["all_modes"]["name"] == "b" and d["prefill"]["name"] == "b"


def test_eval_arguments_wrong(capsys):
    with pytest.raises(SystemExit):
        ev.main(["--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="NO-SUCH-LICENSE is missing"):
        ev.license_paragraphs("NO-SUCH-LICENSE")


def test_exact_attention_hook_has_no_counters():
    assert ev.traffic(ev._counters(ExactAttention()))["dram_bytes"] == 0


def test_protected_window_keeps_the_newest_tokens():
    # Causal column sums rank the newest tokens last: plain pruning drops them, a protected window keeps them.
    rng = np.random.default_rng(7)
    print("seed 7")
    q, k, v = (rng.standard_normal((2, 40, 8)).astype(np.float32) for _ in range(3))

    class _Model:
        head_dim, n_layers, n_heads = 8, 4, 2

    plain = ev.Point("t", "token", **ev.FULL12, **dict(ev.NO_PRUNE, token_keep_final=0.5))
    window = ev.Point("w", "protected", token_protect_recent=6, **ev.FULL12,
                      **dict(ev.NO_PRUNE, token_keep_final=0.5))
    alive = {}
    for point in (plain, window):
        att = ev.spatten_factory(point, _Model, "summarize")()
        for layer in range(4):
            att(layer, q, k, v, causal=True)
        alive[point["name"]] = att.token_alive
    assert alive["t"].sum() == alive["w"].sum() == 20
    assert not alive["t"][-6:].all()
    assert alive["w"][-6:].all()


def test_executor_wrong():
    with pytest.raises(ValueError, match="executor must be 'process' or 'thread', not 'serial'"):
        ev.make_executor("serial")
