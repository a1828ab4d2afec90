"""golden.core_cycles: the cycle model of the RTL core (model only; the RTL check is gen.bench_core_rtl)."""

import asyncio
import dataclasses
import json

import numpy as np
import pytest

from gen.bench_core_rtl import compare, render
from gen.config import preset
from gen.driver import SpattenDriver
from gen.golden_transport import GoldenTransport
from golden import core_cycles
from golden.core_cycles import STAGES, command_cycles, command_trace
from hw.fetcher.issuer import BurstIssuer
from hw.fetcher.planner import RunPlanner

TINY = preset("tiny")
MEM = 1 << 20


def _traces(cfg, *, mode="summarize", causal=True, layers=2, heads=2, length=16, seed=5):
    run_cfg = dataclasses.replace(cfg, token_prune_start=0.0, token_keep_final=0.5, head_prune_start=0.0,
                                  head_keep_final=0.5, value_keep=0.5, requant_threshold=0.3)
    transport = GoldenTransport(run_cfg, MEM)
    drv = SpattenDriver(transport, run_cfg, dram=(0x1_0000, MEM - 0x1_0000))
    gen = np.random.default_rng(seed)
    q, k, v = ([gen.normal(size=(heads, length, cfg.head_dim)) * s for _ in range(layers)]
               for s in (3.0, 1.0, 1.0))
    asyncio.run(drv.run_model(q, k, v, mode, causal, length - 2 if mode == "generate" else None))
    return [command_trace(cfg, r) for r in transport.model.results]


@pytest.fixture(scope="module")
def traces():
    return _traces(TINY) + _traces(TINY, mode="generate", causal=True, layers=1, heads=3, seed=6)


def test_trace_is_json_and_matches_the_golden_decisions(traces):
    for trace in traces:
        assert json.loads(json.dumps(trace)) == trace
        for job in trace["jobs"]:
            for row in job["rows"]:
                assert row["kept"] == (row["keep"] if row["nvis"] else 0)
                assert len(row["scores"]) == row["nvis"]
                assert not row["miss_lsb"] or row["refetch"]
    assert any(row["refetch"] for t in traces for j in t["jobs"] for row in j["rows"])
    assert any(t["pruning"]["tokens_kept"] < t["pruning"]["alive_before"] for t in traces)


def test_stages_sum_to_the_total_and_rows_fit_in_it(traces):
    for trace in traces:
        got = command_cycles(TINY, trace, latency=10)
        assert set(got) == {*STAGES, "total", "rows"}
        assert all(got[s] >= 0 for s in STAGES)
        assert sum(got[s] for s in STAGES) == got["total"]
        assert len(got["rows"]) == len(trace["jobs"]) * trace["command"]["rows"]
        assert 0 < sum(got["rows"]) < got["total"]


def test_memory_latency_costs_only_the_fetches_and_the_command_read(traces):
    compute = ("pruning", "qk_softmax", "topk", "pv", "output", "importance")
    for trace in traces:
        fast, slow = (command_cycles(TINY, trace, latency=n) for n in (2, 40))
        assert slow["total"] > fast["total"]
        assert all(slow[s] == fast[s] for s in compute)
        fetches = sum(1 for j in trace["jobs"] for _ in range(3))  # K MSB, Q MSB, Q LSB of each job
        assert slow["fetch_k"] + slow["fetch_q"] - fast["fetch_k"] - fast["fetch_q"] == 38 * fetches
        assert slow["command"] - fast["command"] == 38


def _row(nvis, *, keep=None, refetch=False, miss=(), lsb=()):
    keep = max(1, nvis // 2) if keep is None else keep
    scores = list(range(nvis, 0, -1))
    return {"nvis": nvis, "keep": keep, "kept": keep, "refetch": refetch, "miss_msb": list(miss),
            "miss_lsb": list(miss) if refetch else [], "lsb_new": list(lsb), "scores": scores}


def _row_cycles(row, *, causal=False, latency=10, cfg=TINY):
    b = core_cycles._blocks(cfg)
    cmd = {"causal": causal, "keys": 64}
    base = {f"{t}_{p}": 0x1_0000 for t in "qkv" for p in ("msb", "lsb")}
    stages = dict.fromkeys(STAGES, 0)
    return core_cycles._row_cycles(b, cfg, cmd, base, row, 0, latency, stages), stages


def test_rows_measured_on_the_rtl():
    """Rows of ``gen.bench_core_rtl`` at tiny, latency 10: the cycles between two output rows
    of the RTL (the trace port), non-causal rows with the visible keys, kept rows and fetches."""
    # nvis 4, keep 2, no fetch: 142 cycles (causal, one new key: NVIS 4 cycles; here non-causal: 3 fewer).
    assert _row_cycles(_row(4, keep=2))[0] == 142 - 3
    # One more V MSB row to fetch (latency 10): 29 cycles of fetch, one state more.
    cycles, stages = _row_cycles(_row(4, keep=2, miss=[7]))
    assert cycles == 142 - 3 + 1 + _fetch_one(10)
    assert stages["fetch_v"] == 2 + 1 + _fetch_one(10)


def _fetch_one(latency):
    """One row of tiny's MSB plane (8 bytes, two 32-bit beats), by hand from the stages."""
    index_taken = max(RunPlanner.PLAN_CYCLES, 2)
    ar = index_taken + 2 + BurstIssuer.RUN_CYCLES
    last_beat = ar + latency + 1
    return last_beat + 2 + 4     # Fetcher.row_latency, then f_done and FETCH_WAIT's exit


def test_one_row_fetch_by_hand():
    b = core_cycles._blocks(TINY)
    assert b.fetcher.row_latency == 2
    for latency in (1, 10, 50):
        got = core_cycles._fetch_cycles(b, 0x1_0000, 64, [5], "msb", latency)
        assert got == _fetch_one(latency) == 19 + latency


def test_scattered_rows_cost_more_than_a_run():
    b = core_cycles._blocks(TINY)
    run = core_cycles._fetch_cycles(b, 0x1_0000, 64, list(range(8)), "msb", 10)
    scattered = core_cycles._fetch_cycles(b, 0x1_0000, 64, list(range(0, 16, 2)), "msb", 10)
    # Eight one-row runs: the issuer takes one run per RUN_CYCLES + 1 cycles, where one run of
    # eight rows takes its indices one per cycle and reads 16 beats in one burst.
    assert scattered - run == 7 * (BurstIssuer.RUN_CYCLES + 1) - 7 - (16 - 2)
    assert core_cycles._fetch_cycles(b, 0x1_0000, 64, [], "msb", 10) == core_cycles._FETCH["empty"]


def test_monotonic_in_visible_keys_kept_rows_and_refetch():
    for cfg in (TINY, preset("ulx3s")):
        last = 0
        for n in (1, 2, 5, 16, 33, 64):
            cycles = _row_cycles(_row(n), cfg=cfg)[0]
            assert cycles > last
            last = cycles
        assert _row_cycles(_row(16, keep=12), cfg=cfg)[0] > _row_cycles(_row(16, keep=4), cfg=cfg)[0]
        assert _row_cycles(_row(16, refetch=True), cfg=cfg)[0] > _row_cycles(_row(16), cfg=cfg)[0]
        assert _row_cycles(_row(16, refetch=True, lsb=[3]), cfg=cfg)[0] > \
            _row_cycles(_row(16, refetch=True), cfg=cfg)[0]


def test_row_with_no_visible_key_only_writes_its_zero_row():
    cycles, stages = _row_cycles({"nvis": 0, "keep": 0, "kept": 0, "refetch": False, "miss_msb": [],
                                  "miss_lsb": [], "lsb_new": [], "scores": []})
    assert stages["output"] == cycles and stages["qk_softmax"] == 0


@pytest.mark.parametrize("latency", [0, 501, 2.0, True])
def test_latency_range(traces, latency):
    with pytest.raises(ValueError, match="latency"):
        command_cycles(TINY, traces[0], latency=latency)


def test_bench_compare_and_render(traces):
    measured = []
    for i, trace in enumerate(traces):
        predicted = command_cycles(TINY, trace, latency=10)["total"]
        measured.append({"label": "a" if i < 2 else "b", "step": i, "layer": 0, "trace": trace,
                         "cycles": predicted + (predicted // 20 if i == 1 else 0)})
    points = compare(TINY, measured, 10)
    assert [p["shape"] for p in points] == ["a", "b"]
    assert points[1]["max_error"] == 0.0
    assert 0.04 < points[0]["max_error"] < 0.05
    assert sum(points[0]["stages"].values()) == points[0]["predicted"]
    text = render({"preset": "tiny", "latency_cycles": 10, "seed": 1, "points": points,
                   "commands": len(measured), "model_error": points[0]["max_error"]})
    assert "| a | 2 |" in text and "qk_softmax" in text


_CSV = ("iteration_id,layer_id,head_id,embedding_length_D,sentence_length_L,key_fetch_num,quant_key_bit,"
        "quant_query_bit,auto_requant_thres,if_requant,auto_requant_incre,value_fetch_num,quant_value_bit,"
        "if_accumulate_importance,if_rescale_previous_importance,if_topk,topk\n"
        "0,0,0,64.0,100,100,6,16,0.05,True,4,20,6,True,False,False,-1\n"
        "0,0,1,64.0,100,100,6,16,0.05,True,4,20,6,True,False,False,-1\n"
        "1,1,0,64.0,101,50,6,16,0.1,True,4,25,6,True,False,False,-1\n"
        "1,6,0,64.0,101,10,6,16,0.05,True,4,2,6,True,False,False,-1\n"
        "1,6,1,64.0,101,,\n")


def test_workload_shapes_take_distinct_token_keeps(tmp_path):
    from gen.bench_core_rtl import workload_shapes

    path = tmp_path / "t.csv"
    path.write_text(_CSV)
    got = workload_shapes(preset("ulx3s"), path, count=3)
    assert [s["config"]["token_keep_final"] for s in got] == [1.0, 0.495, 0.099]
    assert [s["config"]["value_keep"] for s in got] == [0.2, 0.5, 0.2]
    assert got[1]["config"]["requant_threshold"] == 0.1
    assert all(s["length"] == 64 and s["causal"] for s in got)
    assert len(workload_shapes(preset("tiny"), path, count=1)) == 1


def test_back_to_back_bursts_wait_for_the_memory():
    """ulx3s: a 64-byte row is one 8-beat burst; a second row's burst, issued 7 cycles after the
    first, waits for the first's 8 beats and the memory's cycle between bursts."""
    b = core_cycles._blocks(preset("ulx3s"))
    for latency in (1, 20):
        one = core_cycles._fetch_cycles(b, 0x1_0000, 64, [0], "msb", latency)
        two = core_cycles._fetch_cycles(b, 0x1_0000, 64, [0, 2], "msb", latency)
        assert one == 25 + latency
        assert two - one == 8 + 1
        log = []
        core_cycles._fetch_cycles(b, 0x1_0000, 64, [0, 2], "msb", latency, log=log)
        assert log == [(12, 8), (12 + BurstIssuer.RUN_CYCLES + 1, 8)]
