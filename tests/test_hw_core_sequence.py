# amaranth: UnusedElaboratable=no
"""The sequence state and cascade pruning (hw/core/sequence.py) against golden, in Amaranth's simulator."""

import random
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.hdl import Fragment

from golden.command import MAX_HEADS, out_row_bytes, survivor_rows
from golden.formats import HEAD_IMPORTANCE, TOKEN_IMPORTANCE
from golden.pruning import prune, sat_add
from hw.core.alive_list import AliveList
from hw.core.candidate_feed import CandidateFeed
from hw.core.head_ranker import HeadRanker
from hw.core.sequence import SequenceState, sequence_state_from_config
from hw.core.token_importance import TokenImportance
from sim.amaranth_streams import run, stream_get, stream_put
from sim.sequence_cases import (
    Layer,
    Reference,
    random_commands,
    random_head_importance,
    random_importance,
    random_job,
)
from sim.streams import random_pause


def _cfg(max_context, head_dim, value_bits=8):
    return SimpleNamespace(max_context=max_context, head_dim=head_dim, value_bits=value_bits, axi_data_bits=32)


CASES = [  # max_context, P, sinks, recent, head_dim, seed
    (16, 2, 0, 0, 2, 1),
    (24, 4, 2, 3, 1, 2),
    (32, 4, 1, 5, 4, 3),
    (64, 8, 4, 2, 8, 4),
    (3, 8, 1, 1, 1, 5),     # a context shorter than P: the token ranker takes 4 lanes
]


@pytest.mark.parametrize("max_context,P,sinks,recent,head_dim,seed", CASES)
def test_sequence_state_vs_golden(max_context, P, sinks, recent, head_dim, seed):
    """Random command runs with importances between them, random stalls: rows, outcomes and lists exact."""
    cfg = _cfg(max_context, head_dim)
    dut = SequenceState(max_context=max_context, topk_parallelism=P, protect_sinks=sinks,
                        protect_recent=recent, row_bits=8 * out_row_bytes(cfg.head_dim, cfg.value_bits))
    assert dut.survivor_rows == survivor_rows(cfg)
    rng = random.Random(seed)
    ref = Reference(cfg, sinks, recent)
    commands = random_commands(rng, max_context, 40)
    label = f"seed={seed} max_context={max_context} P={P} sinks={sinks} recent={recent}"
    checked = {"rows": 0, "pruned": 0, "alive": 0, "errors": 0, "tokens_pruned": 0, "heads_pruned": 0,
               "protected_over_keep": 0}

    async def bench(ctx):
        put_pause, get_pause = random_pause(random.Random(seed), 0.3), random_pause(random.Random(seed + 1), 0.3)
        for step, c in enumerate(commands):
            where = f"{label} command {step} {c}"
            # Importances of a few head jobs over the alive list (a job's list may be empty).
            for _ in range(rng.randrange(4)):
                for t, v, last, none in random_job(rng, ref.alive_list):
                    await stream_put(ctx, dut.importance, {"token": t, "importance": v, "last": last,
                                                           "none": none}, pause=put_pause)
                    if not none:
                        ref.add(t, v)
            for _ in range(rng.randrange(6)):
                h, v = random_head_importance(rng)
                await stream_put(ctx, dut.head_importance, {"head": h, "importance": v}, pause=put_pause)
                ref.add_head(h, v)
            want_rows, want = ref.step(c)
            await stream_put(ctx, dut.layer, c.__dict__, pause=put_pause)
            for r, raw in enumerate(want_rows):
                beat = await stream_get(ctx, dut.survivors, pause=get_pause)
                got = int(beat.data).to_bytes(len(raw), "little")
                assert got == raw, f"{where}: row {r} {got.hex()} != {raw.hex()}"
                assert beat.last == (r == len(want_rows) - 1), f"{where}: row {r} last"
                checked["rows"] += 1
            beat = await stream_get(ctx, dut.pruned, pause=get_pause)
            got = {name: int(getattr(beat, name)) for name in want}
            assert got == want, f"{where}: pruned {got} != {want}"
            checked["pruned"] += 1
            checked["errors"] += want["error"]
            checked["tokens_pruned"] += want["tokens_pruned"]
            checked["heads_pruned"] += want["heads_pruned"]
            checked["protected_over_keep"] += not want["error"] and want["tokens_alive"] > c.token_keep
            await stream_put(ctx, dut.alive_request, 0, pause=put_pause)
            got = []
            while True:
                beat = await stream_get(ctx, dut.alive, pause=get_pause)
                if beat.none:
                    assert beat.last, f"{where}: none without last"
                else:
                    got.append(int(beat.index))
                if beat.last:
                    break
            assert got == ref.alive_list, f"{where}: alive {got} != {ref.alive_list}"
            checked["alive"] += 1

    run(dut, bench, deadline_cycles=400_000)
    # The run exercised what it claims: errors, token and head pruning happened.
    assert checked["errors"] > 0 and checked["tokens_pruned"] > 0 and checked["heads_pruned"] > 0, \
        f"{label}: {checked}"
    # With protected tokens, some commands keep more than token_keep (the protected ones all stay).
    assert (checked["protected_over_keep"] > 0) == bool(sinks or recent), f"{label}: {checked}"


def test_importance_and_alive_rates():
    """Importances go in one per cycle (the same token twice in a row included); a list streams one per cycle."""
    cfg = _cfg(32, 2)
    dut = SequenceState(max_context=32, topk_parallelism=4, row_bits=8 * out_row_bytes(2, 8))
    ref = Reference(cfg, 0, 0)
    c = Layer(True, False, 0, 32, 1, 32, 1)
    # Back-to-back beats of one token: a lost update would let token 4 or 5 outrank 3 and 31.
    beats = [(3, 100)] * 3 + [(4, 250), (5, 120), (5, 119), (0, 7)] + [(31, 50)] * 6 + [(4, 1), (3, 0)]

    async def bench(ctx):
        await stream_put(ctx, dut.layer, c.__dict__)
        ref.step(c)
        for _ in range(survivor_rows(cfg)):
            await stream_get(ctx, dut.survivors)
        await stream_get(ctx, dut.pruned)
        start = ctx.get(cycle)
        for t, v in beats:
            await stream_put(ctx, dut.importance, {"token": t, "importance": v, "last": 0, "none": 0})
            ref.add(t, v)
        assert ctx.get(cycle) - start == len(beats), "importances must go in one per cycle"
        # Prune to the importances just added: the survivors say whether every sum landed.
        keep = Layer(False, False, 1, 32, 1, 2, 1)
        want_rows, want = ref.step(keep)
        assert ref.alive_list == [3, 31]
        await stream_put(ctx, dut.layer, keep.__dict__)
        for raw in want_rows:
            assert int((await stream_get(ctx, dut.survivors)).data).to_bytes(len(raw), "little") == raw
        beat = await stream_get(ctx, dut.pruned)
        assert int(beat.tokens_alive) == 2 and int(beat.tokens_pruned) == 30
        await stream_put(ctx, dut.alive_request, 0)
        ctx.set(dut.alive.ready, 1)
        start, got = ctx.get(cycle), []
        while True:
            await ctx.tick()
            if ctx.get(dut.alive.valid):
                got.append(ctx.get(dut.alive.p.index))
                if ctx.get(dut.alive.p.last):
                    break
        assert got == ref.alive_list
        assert ctx.get(cycle) - start <= len(got) + 2, "the alive list must stream one index per cycle"

    from amaranth.hdl import Module, Signal
    cycle = Signal(32)
    top = Module()
    top.submodules.dut = dut
    top.d.sync += cycle.eq(cycle + 1)
    run(top, bench)


@pytest.mark.parametrize("tokens,keys", [(0, 20), (20, 20), (5, 31)])
def test_latency_unpruned(tokens, keys):
    """A command that prunes nothing answers after ``latency_unpruned`` cycles."""
    dut = SequenceState(max_context=32, topk_parallelism=2, row_bits=40)
    grown = {"fresh": 0, "causal": 0, "layer": 1, "keys": keys, "heads": 4, "token_keep": keys, "head_keep": 4}
    seen = []

    async def bench(ctx):
        ctx.set(dut.survivors.ready, 1)
        ctx.set(dut.pruned.ready, 1)
        if tokens:
            await stream_put(ctx, dut.layer, {**grown, "fresh": 1, "keys": tokens, "token_keep": tokens})
            await ctx.tick().until(dut.pruned.valid)
            await ctx.tick()
        await stream_put(ctx, dut.layer, {**grown, "fresh": int(not tokens)})
        cycles = 1
        while not ctx.get(dut.pruned.valid):
            await ctx.tick()
            cycles += 1
        seen.append(cycles)

    run(dut, bench)
    assert seen == [dut.latency_unpruned(keys, tokens)]


def test_empty_alive_list():
    """Before any command the list is empty: one beat with none and last."""
    dut = SequenceState(max_context=16, topk_parallelism=2, row_bits=16)

    async def bench(ctx):
        await stream_put(ctx, dut.alive_request, 0)
        beat = await stream_get(ctx, dut.alive)
        assert beat.none and beat.last

    run(dut, bench)


def test_sequence_state_from_config():
    from gen.config import PRESETS

    cfg = PRESETS["tiny"]
    dut = sequence_state_from_config(cfg)
    assert dut.max_context == cfg.max_context and dut.topk_parallelism == cfg.topk_parallelism
    assert dut.survivor_rows == survivor_rows(cfg)
    assert dut.row_bits == 8 * out_row_bytes(cfg.head_dim, cfg.value_bits)
    Fragment.get(dut, None)     # elaborates (and so is used)


@pytest.mark.parametrize("kwargs,message", [
    ({"max_context": 0}, "max_context must be in 1..65536, not 0"),
    ({"topk_parallelism": 3}, "topk_parallelism must be a power of two in 2..64, not 3"),
    ({"protect_sinks": 17}, "protect_sinks must be in 0..16, not 17"),
    ({"protect_recent": -1}, "protect_recent must be in 0..16, not -1"),
    ({"row_bits": 12}, "row_bits must be a multiple of 8 in 8..65536, not 12"),
    ({"row_bits": 0}, "row_bits must be in 8..65536, not 0"),
])
def test_sequence_state_wrong(kwargs, message):
    args = {"max_context": 16, "topk_parallelism": 2, "row_bits": 16, **kwargs}
    with pytest.raises(ValueError, match=message):
        SequenceState(**args)


def test_token_importance_adds_zeroes_reads():
    """Random adds (repeated tokens, none beats, saturation) with stalls, zeroing, then reads = sat_add."""
    rng = random.Random(11)
    dut = TokenImportance(max_context=16)
    want = np.zeros(16, dtype=np.int64)

    async def bench(ctx):
        for t in range(16):                     # the memory starts unknown: zero it
            ctx.set(dut.zero_token, t)
            ctx.set(dut.zero, 1)
            await ctx.tick()
        ctx.set(dut.zero, 0)
        for rnd in range(3):
            ctx.set(dut.allow, 1)
            pause = random_pause(random.Random(rnd), 0.3 * rnd)
            for _ in range(60):
                t, v, none = rng.choice([0, 1, 15, rng.randrange(16)]), random_importance(rng, TOKEN_IMPORTANCE), \
                    rng.random() < 0.1
                await stream_put(ctx, dut.add, {"token": t, "importance": v, "last": 0, "none": none}, pause=pause)
                if not none:
                    want[t] = sat_add(want[t:t + 1], [v], TOKEN_IMPORTANCE)[0]
            ctx.set(dut.allow, 0)
            await ctx.tick()
            assert not ctx.get(dut.pending)
            ctx.set(dut.rd_en, 1)
            for t in range(16):
                ctx.set(dut.rd_token, t)
                await ctx.tick()
                assert ctx.get(dut.rd_score) == want[t], f"round {rnd} token {t}"
            zero = rng.randrange(16)
            ctx.set(dut.zero_token, zero)
            ctx.set(dut.zero, 1)
            await ctx.tick()
            ctx.set(dut.zero, 0)
            want[zero] = 0

    run(dut, bench)


def test_alive_list_streams_each_request():
    """Lists of random lengths (empty included), each read twice under random backpressure."""
    rng = random.Random(13)
    dut = AliveList(max_context=24)

    async def bench(ctx):
        pause = random_pause(random.Random(14), 0.4)
        for _ in range(8):
            items = sorted(rng.sample(range(24), rng.choice([0, 1, 2, rng.randrange(25)])))
            ctx.set(dut.allow, 0)
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            for t in items:
                ctx.set(dut.push, 1)
                ctx.set(dut.push_index, t)
                await ctx.tick()
            ctx.set(dut.push, 0)
            ctx.set(dut.allow, 1)
            for _ in range(2):
                await stream_put(ctx, dut.request, 0)
                got = []
                while True:
                    beat = await stream_get(ctx, dut.alive, pause=pause)
                    assert beat.none == (not items)
                    got += [] if beat.none else [int(beat.index)]
                    if beat.last:
                        break
                assert got == items

    run(dut, bench)


@pytest.mark.parametrize("stall", [0.0, 0.5, 0.8])
def test_candidate_feed_under_backpressure(stall):
    """Random candidate lists: their scores in list order under backpressure, then position lookups."""
    from amaranth.hdl import Module
    from amaranth.lib.memory import Memory

    rng = random.Random(17)
    scores = [rng.randrange(1 << 20) for _ in range(24)]
    feed = CandidateFeed(max_context=24, score_bits=20)
    top = Module()
    top.submodules.feed = feed
    top.submodules.mem = mem = Memory(shape=20, depth=24, init=scores)
    rd = mem.read_port(transparent_for=())
    top.d.comb += [rd.addr.eq(feed.score_token), rd.en.eq(feed.score_en), feed.score.eq(rd.data)]

    async def bench(ctx):
        pause = random_pause(random.Random(18), stall) if stall else None
        for _ in range(6):
            tokens = rng.sample(range(24), rng.randint(1, 24))
            ctx.set(feed.clear, 1)
            await ctx.tick()
            ctx.set(feed.clear, 0)
            for t in tokens:
                ctx.set(feed.push, 1)
                ctx.set(feed.push_token, t)
                await ctx.tick()
            ctx.set(feed.push, 0)
            assert ctx.get(feed.count) == len(tokens)
            ctx.set(feed.start, 1)
            await ctx.tick()
            ctx.set(feed.start, 0)
            got = []
            for j in range(len(tokens)):
                beat = await stream_get(ctx, feed.scores, pause=pause)
                got.append(int(beat.value))
                assert beat.last == (j == len(tokens) - 1)
            assert got == [scores[t] for t in tokens], f"stall={stall}"
            for j in rng.sample(range(len(tokens)), min(5, len(tokens))):
                ctx.set(feed.look_pos, j)
                await ctx.tick()
                assert ctx.get(feed.look_token) == tokens[j]

    run(top, bench)


def test_concurrent_streams():
    """Alive lists, importances and a layer beat offered at once (as the core does): each importance
    counts for the command after it is taken, and the lists are never disturbed."""
    from amaranth.hdl import Module, Signal

    cfg = _cfg(32, 2)
    dut = SequenceState(max_context=32, topk_parallelism=4, protect_sinks=1, protect_recent=2,
                        row_bits=8 * out_row_bytes(2, 8))
    cycle = Signal(32)
    top = Module()
    top.submodules.dut = dut
    top.d.sync += cycle.eq(cycle + 1)
    rng = random.Random(23)
    ref = Reference(cfg, 1, 2)
    first = Layer(True, True, 0, 24, 4, 24, 4)
    second = Layer(False, True, 1, 28, 4, 9, 2)
    third = Layer(False, True, 2, 28, 4, 5, 1)
    taken, layer_at, outcomes, lists = [], [], [], []
    beats = [(rng.randrange(24), random_importance(rng, TOKEN_IMPORTANCE)) for _ in range(60)]
    heads = [(rng.randrange(4), random_importance(rng, HEAD_IMPORTANCE)) for _ in range(12)]
    first_done = []

    async def collect(ctx, c):
        pause = random_pause(random.Random(24), 0.3)
        rows = [int((await stream_get(ctx, dut.survivors, pause=pause)).data) for _ in range(survivor_rows(cfg))]
        beat = await stream_get(ctx, dut.pruned, pause=pause)
        outcomes.append((rows, int(beat.tokens_alive), int(beat.head_alive)))

    async def commands(ctx):
        await stream_put(ctx, dut.layer, first.__dict__)
        await collect(ctx, first)
        first_done.append(1)
        for c in (second, third):
            await stream_put(ctx, dut.layer, c.__dict__)
            layer_at.append(ctx.get(cycle) - 1)
            await collect(ctx, c)

    async def importances(ctx):
        await ctx.tick().until(dut.pruned.valid)
        pause = random_pause(random.Random(25), 0.5)
        for (t, v), (h, hv) in zip(beats, heads * 5):
            await stream_put(ctx, dut.importance, {"token": t, "importance": v, "last": 0, "none": 0}, pause=pause)
            taken.append((ctx.get(cycle) - 1, "token", t, v))
            await stream_put(ctx, dut.head_importance, {"head": h, "importance": hv}, pause=pause)
            taken.append((ctx.get(cycle) - 1, "head", h, hv))

    async def lists_reader(ctx):
        pause = random_pause(random.Random(26), 0.3)
        while not first_done:
            await ctx.tick()
        for _ in range(6):
            await stream_put(ctx, dut.alive_request, 0, pause=pause)
            got = []
            while True:
                beat = await stream_get(ctx, dut.alive, pause=pause)
                got += [] if beat.none else [int(beat.index)]
                if beat.last:
                    break
            lists.append(got)

    run(top, commands, importances, lists_reader)
    ref.step(first)
    want_lists = {tuple(ref.alive_list)}
    wants = []
    for c, since, at in zip((second, third), [0, layer_at[0]], layer_at):
        for when, kind, x, v in taken:
            if since <= when < at:
                (ref.add if kind == "token" else ref.add_head)(x, v)
        rows, want = ref.step(c)
        wants.append(([int.from_bytes(r, "little") for r in rows], want["tokens_alive"], want["head_alive"]))
        want_lists.add(tuple(ref.alive_list))
    assert outcomes[1:] == wants
    assert len(lists) == 6 and all(tuple(got) in want_lists for got in lists)
    assert not {when for when, *_ in taken} & set(layer_at), "a layer beat is never taken with an importance"
    assert any(when > layer_at[0] for when, *_ in taken), "some importances must come after the second command"


@pytest.mark.parametrize("stream", ["importance", "head_importance", "alive_request"])
def test_offered_with_a_layer_beat_goes_first(stream):
    """An importance, head importance or alive request offered with a layer beat is taken first."""
    dut = SequenceState(max_context=16, topk_parallelism=2, row_bits=16)
    payload = {"importance": {"token": 0, "importance": 5, "last": 1, "none": 0},
               "head_importance": {"head": 0, "importance": 5}, "alive_request": 0}[stream]
    command = {"fresh": 1, "causal": 0, "layer": 0, "keys": 4, "heads": 1, "token_keep": 4, "head_keep": 1}

    async def bench(ctx):
        other = getattr(dut, stream)
        ctx.set(dut.alive.ready, 1)
        ctx.set(dut.layer.valid, 1)
        ctx.set(dut.layer.payload, command)
        ctx.set(other.valid, 1)
        ctx.set(other.payload, payload)
        await ctx.delay(1e-9)
        assert ctx.get(other.ready) and not ctx.get(dut.layer.ready)
        await ctx.tick()
        ctx.set(other.valid, 0)
        await ctx.tick().until(dut.layer.ready)

    run(dut, bench)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_head_ranker_vs_golden_prune(seed):
    """Ties-heavy scores, random candidates and keep counts: the kept heads of ``golden.pruning.prune``,
    ``done`` exactly ``LATENCY`` cycles after ``start``, back to back."""
    rng = random.Random(seed)
    dut = HeadRanker(score_bits=HEAD_IMPORTANCE.bits)
    cases = []
    for _ in range(24):
        pool = [rng.randrange(4), HEAD_IMPORTANCE.max_int, rng.randrange(1 << 40)]
        scores = [rng.choice(pool) if rng.random() < 0.7 else random_importance(rng, HEAD_IMPORTANCE)
                  for _ in range(MAX_HEADS)]
        cand = [rng.random() < rng.choice([0.2, 0.6, 1.0]) for _ in range(MAX_HEADS)]
        keep = rng.randint(0, sum(cand))
        cases.append((scores, cand, keep))
    seen = []

    async def bench(ctx):
        for scores, cand, keep in cases:
            for h, s in enumerate(scores):
                ctx.set(dut.scores[h], s)
            ctx.set(dut.cand, sum(1 << h for h, c in enumerate(cand) if c))
            ctx.set(dut.keep, keep)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles = 1
            while not ctx.get(dut.done):
                await ctx.tick()
                cycles += 1
            seen.append((ctx.get(dut.kept), cycles))

    run(dut, bench)
    for (scores, cand, keep), (kept, cycles) in zip(cases, seen, strict=True):
        want = prune(np.array(scores, dtype=np.int64), np.array(cand), keep)
        assert kept == sum(1 << h for h in np.flatnonzero(want)), (f"seed {seed}: scores {scores} "
                                                                  f"cand {cand} keep {keep}")
        assert cycles == HeadRanker.LATENCY, f"seed {seed}: done after {cycles} cycles"


def test_heads_latency_pruned():
    """A command that prunes heads only answers ``HEADS_LATENCY_PRUNED - HEADS_LATENCY`` cycles later."""
    dut = SequenceState(max_context=32, topk_parallelism=2, row_bits=40)
    base = {"fresh": 1, "causal": 0, "layer": 0, "keys": 9, "heads": 6, "token_keep": 9}
    seen = []

    async def bench(ctx):
        ctx.set(dut.survivors.ready, 1)
        ctx.set(dut.pruned.ready, 1)
        for head_keep in (6, 4):
            await stream_put(ctx, dut.layer, {**base, "head_keep": head_keep})
            cycles = 1
            while not ctx.get(dut.pruned.valid):
                await ctx.tick()
                cycles += 1
            seen.append(cycles)
            await ctx.tick()

    run(dut, bench)
    assert seen == [dut.latency_unpruned(9), dut.latency_unpruned(9) + dut.HEADS_LATENCY_PRUNED
                    - dut.HEADS_LATENCY]
