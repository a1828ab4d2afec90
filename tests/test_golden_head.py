"""golden/head.py: the head datapath's jobs, checked against SpattenAttention."""

import dataclasses

import numpy as np
import pytest

from gen.config import preset
from golden.fetch import refetch_threshold_code
from golden.head import HeadError, head_job, job_error, visible_of
from golden.pruning import value_keep_code
from golden.qk import score_multiplier
from golden.quant import quant_scale, quantize
from golden.spatten import SpattenAttention

SEED = 31
CFG = dataclasses.replace(preset("tiny"), requant_threshold=0.3, value_keep=0.5)


@pytest.mark.parametrize("causal", [False, True])
def test_head_job_is_spatten_attention_of_one_head(causal):
    rng = np.random.default_rng(SEED)
    lk, lq, d = 20, 7, CFG.head_dim
    q, k, v = (rng.normal(size=(1, n, d)) for n in (lq, lk, lk))
    att = SpattenAttention(CFG, 1, 1)
    out = att(0, q, k, v, causal=causal)
    sq, sk, sv = (quant_scale(x, CFG.value_bits) for x in (q, k, v))
    m, sh = score_multiplier(sq, sk, d)
    want = head_job(CFG, q=quantize(q, sq, CFG.value_bits)[0], k=quantize(k, sk, CFG.value_bits)[0],
                    v=quantize(v, sv, CFG.value_bits)[0], m=m, sh=sh, alive=list(range(lk)), causal=causal,
                    value_keep_code=value_keep_code(CFG.value_keep),
                    threshold_code=refetch_threshold_code(CFG.requant_threshold))
    assert np.array_equal((want["out"] * (sv / 16)).astype(np.float32), out[0])
    assert np.array_equal(want["refetch"], att.last["refetch"][0]) and want["refetch"].any()
    assert np.array_equal(want["kept"], att.last["values_kept"][0])
    assert np.array_equal(want["importance"], att.token_score)
    assert want["head_importance"] == att.head_score[0]
    for name, value in want["counters"].items():
        assert value == att.counters[name], name


def test_visible_of_causal_prefix():
    vis = visible_of([1, 4, 6], lk=8, lq=3, causal=True)
    assert vis.sum(axis=1).tolist() == [2, 3, 3]
    assert vis[0].tolist() == [False, True, False, False, True, False, False, False]


def test_job_error_order():
    cfg = preset("tiny")
    assert job_error(cfg, d=0, lk=0, lq=0, alive=[99]) == HeadError.D_RANGE
    assert job_error(cfg, d=8, lk=65, lq=0, alive=[99]) == HeadError.LK_RANGE
    assert job_error(cfg, d=8, lk=6, lq=7, alive=[99]) == HeadError.LQ_RANGE
    assert job_error(cfg, d=8, lk=6, lq=6, alive=[2, 1, 9]) == HeadError.ALIVE_ORDER
    assert job_error(cfg, d=8, lk=6, lq=6, alive=[2, 9, 1]) == HeadError.ALIVE_RANGE
    assert job_error(cfg, d=8, lk=6, lq=6, alive=[]) == HeadError.OK


def test_head_job_wrong():
    cfg = preset("tiny")
    z = np.zeros((2, cfg.head_dim), dtype=np.int64)
    with pytest.raises(ValueError, match="threshold_code must be in 0..32768, not 40000"):
        head_job(cfg, q=z, k=z, v=z, m=1, sh=1, alive=[0], causal=False, value_keep_code=1,
                 threshold_code=40000)
    with pytest.raises(ValueError, match="code must be in 0..65536, not 70000"):
        head_job(cfg, q=z, k=z, v=z, m=1, sh=1, alive=[0], causal=False, value_keep_code=70000,
                 threshold_code=0)
