# amaranth: UnusedElaboratable=no
"""RequestDispatch, ResultCollect and TopKInterleave in Amaranth's simulator.

The whole interleaved engine is checked bit- and cycle-exact by cocotb
(tests/test_sim_topk.py); here each part alone, with random bubbles and
backpressure on every stream.
"""

import random

import pytest
from amaranth.lib import data

from golden.topk_cycles import stream_cycles
from hw.topk import RequestDispatch, ResultCollect, TopKEngine, TopKInterleave
from sim.amaranth_streams import run, stream_get, stream_put
from sim.streams import random_pause

SEED = 20261203

REQUEST = data.StructLayout({"n": 7, "k": 7})
SCORES = data.ArrayLayout(8, 4)
RESULT = data.StructLayout({"value": 8, "last": 1})


@pytest.mark.parametrize("engines", [1, 3])
def test_dispatch_round_robin(engines):
    """Request i and its ceil(n / 4) beats reach engine i mod engines, in order (n = 0 has none)."""
    rng = random.Random(SEED + engines)
    print(f"seed={SEED + engines}")
    dut = RequestDispatch(engines=engines, request_layout=REQUEST, scores_layout=SCORES)
    requests = [{"n": rng.choice((0, 1, 4, 5, rng.randint(0, 127))), "k": rng.randint(0, 127)}
                for _ in range(24)]
    beats = [[[rng.randint(0, 255) for _ in range(4)] for _ in range(-(-r["n"] // 4))] for r in requests]
    got = [[] for _ in range(engines)]

    async def send(ctx):
        pause = random_pause(random.Random(rng.random()), 0.3)
        for request in requests:
            await stream_put(ctx, dut.request, request, pause=pause)

    async def send_scores(ctx):
        pause = random_pause(random.Random(rng.random()), 0.3)
        for request_beats in beats:
            for beat in request_beats:
                await stream_put(ctx, dut.scores, beat, pause=pause)

    def engine(e):
        async def receive(ctx):
            pause = random_pause(random.Random(rng.random()), 0.5)
            for number in range(e, len(requests), engines):
                request = await stream_get(ctx, dut.engine_request[e], pause=pause)
                got[e].append(("request", {"n": request.n, "k": request.k}))
                for _ in beats[number]:
                    beat = await stream_get(ctx, dut.engine_scores[e], pause=pause)
                    got[e].append(("beat", [int(v) for v in beat]))
        return receive

    run(dut, send, send_scores, *[engine(e) for e in range(engines)], deadline_cycles=20_000)
    for e in range(engines):
        want = []
        for number in range(e, len(requests), engines):
            want += [("request", requests[number])] + [("beat", beat) for beat in beats[number]]
        assert got[e] == want, f"seed={SEED + engines} engine {e}"


@pytest.mark.parametrize("engines", [1, 2, 4])
def test_collect_in_request_order(engines):
    """Results leave in request order, whichever engine is ready first; final_go names the engine."""
    rng = random.Random(SEED + 10 * engines)
    print(f"seed={SEED + 10 * engines}")
    dut = ResultCollect(engines=engines, result_layout=RESULT)
    results = [[rng.randint(0, 255) for _ in range(rng.randint(1, 4))] for _ in range(20)]
    got = []

    def engine(e):
        async def produce(ctx):
            pause = random_pause(random.Random(rng.random()), 0.6)
            for number in range(e, len(results), engines):
                for position, value in enumerate(results[number]):
                    last = position == len(results[number]) - 1
                    await stream_put(ctx, dut.engine_result[e], {"value": value, "last": last}, pause=pause)
        return produce

    async def consume(ctx):
        pause = random_pause(random.Random(rng.random()), 0.3)
        for number, result in enumerate(results):
            assert ctx.get(dut.final_go) == 1 << (number % engines), f"request {number}"
            beats = [await stream_get(ctx, dut.result, pause=pause) for _ in result]
            got.append([beat.value for beat in beats])
            assert [beat.last for beat in beats] == [0] * (len(result) - 1) + [1]

    run(dut, consume, *[engine(e) for e in range(engines)], deadline_cycles=20_000)
    assert got == results, f"seed={SEED + 10 * engines}"


def test_interleave_properties():
    dut = TopKInterleave(engines=3, n_max=100, parallelism=8, score_bits=6, signed=True)
    alone = TopKEngine(n_max=100, parallelism=8, score_bits=6, signed=True)
    assert dut.engines == 3
    for name in ("n_max", "lanes", "count_bits", "index_bits", "round_latency", "round_gap",
                 "final_latency", "start_delay", "block_ram"):
        assert getattr(dut, name) == getattr(alone, name), name
    assert dut.result.payload.shape() == alone.result.payload.shape()
    assert all(unit.ordered for unit in dut._units)
    assert not TopKInterleave(engines=1, n_max=16, parallelism=4, score_bits=8)._units[0].ordered
    assert not alone.ordered and not hasattr(alone, "final_go")


def test_stream_model_one_engine_is_back_to_back():
    """With one engine the stream model is engine_cycles request after request, 5 cycles apart."""
    rng = random.Random(SEED)
    requests = [([rng.randint(0, 255) for _ in range(64)], rng.randint(1, 64)) for _ in range(4)]
    timeline = stream_cycles(requests, n_max=64, parallelism=4)
    for before, after in zip(timeline, timeline[1:], strict=False):
        assert after["request"] == before["results"][-1] + 2
        assert after["scores"][0] == after["request"] + 3


@pytest.mark.parametrize("cls, kwargs, error, message", [
    (RequestDispatch, {"engines": 0}, ValueError, "engines must be in 1..16, not 0"),
    (RequestDispatch, {"request_layout": data.StructLayout({"k": 4})}, TypeError,
     "request_layout must be a StructLayout with a field n"),
    (RequestDispatch, {"scores_layout": 8}, TypeError, "scores_layout must be an ArrayLayout, not 8"),
    (ResultCollect, {"engines": 17}, ValueError, "engines must be in 1..16, not 17"),
    (ResultCollect, {"result_layout": data.StructLayout({"value": 8})}, TypeError,
     "result_layout must be a StructLayout with a field last"),
    (TopKInterleave, {"engines": 0}, ValueError, "engines must be in 1..16, not 0"),
    (TopKEngine, {"ordered": 1}, TypeError, "ordered must be a bool, not 1"),
])
def test_interleave_wrong(cls, kwargs, error, message):
    defaults = {
        RequestDispatch: {"engines": 2, "request_layout": REQUEST, "scores_layout": SCORES},
        ResultCollect: {"engines": 2, "result_layout": RESULT},
        TopKInterleave: {"engines": 2, "n_max": 16, "parallelism": 4, "score_bits": 8},
        TopKEngine: {"n_max": 16, "parallelism": 4, "score_bits": 8},
    }[cls]
    with pytest.raises(error, match=message.replace(".", r"\.")):
        cls(**{**defaults, **kwargs})
