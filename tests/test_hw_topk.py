# amaranth: UnusedElaboratable=no
"""TopKEngine in Amaranth's simulator against golden.topk and golden.topk_cycles."""

import random

import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from gen.blocks import build_block
from gen.config import preset
from golden import topk_cycles
from hw.topk import TopKEngine
from sim.amaranth_streams import run, stream_get, stream_put
from sim.streams import random_pause
from sim.topk_cases import edge_cases, expected, random_cases, request_factory, score_range

SEED = 20261122


def _cases(dut, rng, count, *, bad=0.05):
    """The edge cases and ``count`` random requests of ``sim.topk_cases`` as ``(n, k, scores)``."""
    lo, hi = score_range(dut.score_bits, dut.signed)
    bounds = {"n_max": dut.n_max, "lanes": dut.lanes, "lo": lo, "hi": hi,
              "n_limit": (1 << dut.count_bits) - 1}
    case = request_factory(rng, lo, hi)
    requests = edge_cases(rng, case, **bounds) + random_cases(rng, case, count, bad=bad, **bounds)
    # k must fit the request's field as n does (a tiny n_max has a narrow one).
    return [(r.n, r.k, r.scores) for r in requests if r.k <= bounds["n_limit"]]


def _run(dut, cases, *, seed, bubbles, label):
    """Send ``cases`` back to back; random bubbles/backpressure with probability ``bubbles``."""
    P = dut.lanes
    rng = random.Random(seed)
    results = []

    def pause():
        return random_pause(random.Random(rng.random()), bubbles)

    async def requests(ctx):
        bubble = pause()
        for n, k, _ in cases:
            await stream_put(ctx, dut.request, {"n": n, "k": k}, pause=bubble)

    async def scores(ctx):
        bubble = pause()
        for n, _, values in cases:
            for start in range(0, n, P):
                # Lanes past n are don't care: noise.
                beat = [values[i] if i < len(values) else rng.randint(-1, 1) % 2
                        for i in range(start, start + P)]
                await stream_put(ctx, dut.scores, beat, pause=bubble)

    async def result(ctx):
        bubble = pause()
        for _ in cases:
            beats = []
            while not beats or not beats[-1].last:
                beats.append(await stream_get(ctx, dut.result, pause=bubble))
            results.append([(beat.count, [beat.index[lane] for lane in range(beat.count)],
                             [beat.score[lane] for lane in range(beat.count)], beat.error) for beat in beats])

    run(dut, requests, scores, result, deadline_cycles=200_000)
    for number, ((n, k, values), beats) in enumerate(zip(cases, results, strict=True)):
        want_index, want_score, want_error = expected(n, k, values, dut.n_max)
        where = f"{label} seed={seed} request {number} n={n} k={k} scores={values}"
        assert all(count or len(beats) == 1 for count, *_ in beats), f"{where}: empty beat {beats}"
        got_index = [i for _, idx, _, _ in beats for i in idx]
        got_score = [s for _, _, sc, _ in beats for s in sc]
        assert got_index == want_index, f"{where}: indices {got_index}, expected {want_index}"
        assert got_score == want_score, f"{where}: scores {got_score}, expected {want_score}"
        assert beats[-1][3] == want_error, f"{where}: error {beats[-1][3]}, expected {want_error}"
        assert not any(err for *_, err in beats[:-1]), f"{where}: error before the last beat"


def _timed(dut, cases, label):
    """One request at a time, no bubbles, no backpressure: cycles exactly as the model."""
    P = dut.lanes
    measured = []

    async def bench(ctx):
        ctx.set(dut.result.ready, 1)
        for n, k, values in cases:
            ctx.set(dut.request.valid, 1)
            ctx.set(dut.request.payload.n, n)
            ctx.set(dut.request.payload.k, k)
            await ctx.tick().until(dut.request.ready)
            ctx.set(dut.request.valid, 0)
            beat, cycle, first = 0, 0, None
            while True:
                nbeats = -(-n // P)
                ctx.set(dut.scores.valid, beat < nbeats)
                for lane in range(P):
                    index = beat * P + lane
                    ctx.set(dut.scores.payload[lane], values[index] if index < n else 0)
                if beat < nbeats and ctx.get(dut.scores.ready):
                    first = cycle if first is None else first
                    beat += 1
                if ctx.get(dut.result.valid) and ctx.get(dut.result.payload.last):
                    measured.append(cycle - first + 1)
                    await ctx.tick()
                    break
                await ctx.tick()
                cycle += 1
                assert cycle < 20_000, f"{label}: hang at n={n} k={k}"
            ctx.set(dut.scores.valid, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for (n, k, values), got in zip(cases, measured, strict=True):
        want = topk_cycles.request_cycles(values, k, n_max=dut.n_max, parallelism=P)
        assert got == want, f"{label}: n={n} k={k} scores={values}: {got} cycles, model {want}"


@pytest.mark.parametrize("P, n_max, bits, signed", [(4, 37, 6, False), (2, 9, 3, True), (8, 50, 5, True)])
def test_topk_random_bubbles(P, n_max, bits, signed):
    dut = TopKEngine(n_max=n_max, parallelism=P, score_bits=bits, signed=signed)
    rng = random.Random(SEED + P)
    print(f"seed={SEED + P}")
    cases = _cases(dut, rng, 25)
    _run(dut, cases, seed=SEED + P, bubbles=0.3, label=f"P={P}")


def test_topk_bad_requests():
    dut = TopKEngine(n_max=10, parallelism=4, score_bits=4)
    rng = random.Random(SEED)
    cases = [(0, 0, []), (0, 3, []), (11, 2, [1] * 11), (15, 15, [2] * 15), (5, 0, [3, 1, 2, 0, 4]),
             (5, 9, [3, 1, 2, 0, 4]), (10, 11, list(range(10))), (3, 2, [7, 7, 7])]
    rng.shuffle(cases)
    print(f"seed={SEED}")
    _run(dut, cases, seed=SEED, bubbles=0.25, label="bad")


@pytest.mark.parametrize("P, n_max", [(4, 40), (16, 64), (2, 7)])
def test_topk_cycles_exact(P, n_max):
    dut = TopKEngine(n_max=n_max, parallelism=P, score_bits=8)
    rng = random.Random(SEED + 7 * P)
    print(f"seed={SEED + 7 * P}")
    # Timed alone: the requests the engine runs (n = 0 answers at once, untimed).
    cases = [(n, k, values) for n, k, values in _cases(dut, rng, 14) if n]
    # Every outcome of a round (read U, M or D next; hi or lo is the k-th
    # value) is among the timed requests.
    outcomes = {r.outcome for n, k, values in cases if 1 <= k <= n
                for r in topk_cycles.select_rounds(values, k, P)}
    assert outcomes == {"U", "M", "D", "hi", "lo"}, outcomes
    _timed(dut, cases, f"P={P}")


def test_topk_properties():
    dut = TopKEngine(n_max=1024, parallelism=16, score_bits=16)
    assert (dut.count_bits, dut.index_bits, dut.lanes, dut.sample, dut.rows) == (11, 10, 16, 16, 64)
    # The latencies are golden.topk_timing's (checked cycle-exact by the timed tests and cocotb).
    assert not dut.block_ram and TopKEngine(n_max=512, parallelism=4, score_bits=16).block_ram
    assert TopKEngine(n_max=1, parallelism=2, score_bits=2).index_bits == 1
    assert TopKEngine(n_max=65536, parallelism=64, score_bits=64).count_bits == 17
    assert dut.request.payload.shape().size == 22
    assert len(dut.result.payload.count) == 5
    engine = build_block("topk", preset("tiny"))
    assert isinstance(engine, TopKEngine)
    assert engine.n_max == preset("tiny").max_context
    Fragment.get(engine, None)          # elaborates: no UnusedElaboratable from gen/blocks.py


def test_topk_blocks():
    """The registry's top-k blocks: interleaved engines when the config asks, the importance engines."""
    from dataclasses import replace

    from golden.formats import HEAD_IMPORTANCE, TOKEN_IMPORTANCE
    from hw.topk import TopKInterleave

    config = replace(preset("tiny"), topk_engines=2)
    engines = build_block("topk", config)
    assert isinstance(engines, TopKInterleave) and engines.engines == 2
    assert (engines.n_max, engines.lanes) == (config.max_context, config.topk_parallelism)
    token, head = build_block("topk_token", config), build_block("topk_head", config)
    assert (token.n_max, token.score_bits, token.signed) == (config.max_context, TOKEN_IMPORTANCE.bits, False)
    assert (head.score_bits, head.signed) == (HEAD_IMPORTANCE.bits, False) == (40, False)
    for block in (engines, token, head):
        Fragment.get(block, None)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"n_max": 0}, ValueError, "n_max must be in 1..65536, not 0"),
    ({"n_max": 65537}, ValueError, "n_max must be in 1..65536, not 65537"),
    ({"n_max": 1.5}, TypeError, "n_max must be an integer, not 1.5"),
    ({"parallelism": 3}, ValueError, "parallelism must be a power of two in 2..64, not 3"),
    ({"parallelism": 128}, ValueError, "parallelism must be a power of two in 2..64, not 128"),
    ({"parallelism": True}, TypeError, "parallelism must be an integer, not True"),
    ({"score_bits": 1}, ValueError, "score_bits must be in 2..64, not 1"),
    ({"score_bits": 65}, ValueError, "score_bits must be in 2..64, not 65"),
    ({"signed": 1}, TypeError, "signed must be a bool, not 1"),
    ({"lfsr_seed": 0}, ValueError, "lfsr_seed must be in 1..65535, not 0"),
])
def test_topk_wrong(kwargs, error, message):
    params = {"n_max": 16, "parallelism": 4, "score_bits": 8, **kwargs}
    with pytest.raises(error, match=message.replace(".", r"\.")):
        TopKEngine(**params)
