# amaranth: UnusedElaboratable=no
"""The fetcher's stages in Amaranth's simulator: parameter checks, the bit-width converter and
the LSB merge against golden, the re-fetch decision, the counters; the registry entry."""

import random

import numpy as np
import pytest
from amaranth.hdl import Fragment, Module, Signal
from amaranth.sim import Simulator

from gen.blocks import build_block
from gen.config import PRESETS, preset
from golden.fetch import merge_lsb as golden_merge_lsb
from golden.fetch import refetch_rows, refetch_threshold_code
from golden.quant import msb_only, pack_plane, split_planes
from hw.fetcher import (
    AxiReadSignature,
    BurstIssuer,
    FetchCounters,
    Fetcher,
    Plane,
    RefetchDecision,
    RowAssembler,
    RowUnpacker,
    RunPlanner,
    merge_lsb,
)
from sim.amaranth_streams import run, stream_get, stream_put
from sim.streams import random_pause

SEED = 20261203

_FETCHER = {"head_dim": 8, "msb_bits": 8, "lsb_bits": 4, "max_context": 64, "data_bits": 32,
            "addr_bits": 20, "id_bits": 2, "outstanding": 4, "threshold_code": 100}


@pytest.mark.parametrize("name, value, message", [
    ("head_dim", 0, "head_dim must be in 1..256, not 0"),
    ("msb_bits", 16, "msb_bits must be in 1..15, not 16"),
    ("lsb_bits", 0, "lsb_bits must be in 1..15, not 0"),
    ("max_context", 0, "max_context must be in 1..65536, not 0"),
    ("data_bits", 48, "data_bits must be a power of two in 32..1024, not 48"),
    ("data_bits", 16, "data_bits must be a power of two in 32..1024, not 16"),
    ("addr_bits", 8, "addr_bits must be in 16..64, not 8"),
    ("id_bits", 0, "id_bits must be in 1..16, not 0"),
    ("outstanding", 0, "outstanding must be in 1..256, not 0"),
    ("threshold_code", 40000, "threshold_code must be in 0..32768, not 40000"),
    ("max_run", 0, "max_run must be in 1..4096, not 0"),
])
def test_fetcher_wrong(name, value, message):
    with pytest.raises(ValueError, match=message):
        Fetcher(**{**_FETCHER, name: value})


def test_fetcher_types_wrong():
    with pytest.raises(TypeError, match="head_dim must be an integer, not 8.0"):
        Fetcher(**{**_FETCHER, "head_dim": 8.0})
    with pytest.raises(ValueError, match=r"msb_bits \+ lsb_bits must be at most 16, not 12 \+ 8"):
        Fetcher(**{**_FETCHER, "msb_bits": 12, "lsb_bits": 8})


def test_stages_wrong():
    with pytest.raises(ValueError, match="data_bytes must be a power of two in 1..128, not 3"):
        RunPlanner(addr_bits=20, index_bits=6, count_bits=7, data_bytes=3, row_bytes=(8, 4), max_run=4)
    with pytest.raises(ValueError, match="data_bytes must be a power of two in 1..128, not 6"):
        BurstIssuer(addr_bits=20, index_bits=6, run_bits=3, data_bytes=6, row_bytes=(8, 4), outstanding=2)
    with pytest.raises(ValueError, match="outstanding must be in 1..256, not 300"):
        BurstIssuer(addr_bits=20, index_bits=6, run_bits=3, data_bytes=4, row_bytes=(8, 4), outstanding=300)
    with pytest.raises(ValueError, match="row_bytes must be in 1..4096, not 0"):
        RowAssembler(data_bytes=4, row_bytes=(0, 4), index_bits=6, run_bits=3, nbytes_bits=8)
    with pytest.raises(ValueError, match=r"msb_bits \+ lsb_bits must be at most 16, not 15 \+ 4"):
        RowUnpacker(head_dim=8, msb_bits=15, lsb_bits=4, index_bits=6)
    with pytest.raises(ValueError, match="threshold_code must be in 0..32768, not -1"):
        RefetchDecision(threshold_code=-1)
    with pytest.raises(ValueError, match="bits must be in 8..64, not 4"):
        FetchCounters(bits=4)


def test_axi_signature():
    sig = AxiReadSignature(addr_bits=32, data_bits=64, id_bits=4)
    assert sig == AxiReadSignature(addr_bits=32, data_bits=64, id_bits=4)
    assert sig != AxiReadSignature(addr_bits=32, data_bits=128, id_bits=4)
    names = [".".join(map(str, path)) for path, _ in sig.members.flatten()]
    assert "arvalid" in names and "rdata" in names and all("." not in n for n in names)
    with pytest.raises(ValueError, match="data_bits must be a multiple of 8, not 12"):
        AxiReadSignature(addr_bits=32, data_bits=12, id_bits=4)


@pytest.mark.parametrize("name", list(PRESETS))
def test_registry(name):
    fetcher = build_block("fetcher", preset(name))
    config = preset(name)
    assert isinstance(fetcher, Fetcher)
    assert fetcher.data_bits == config.axi_data_bits and fetcher.outstanding == config.axi_outstanding
    assert fetcher.threshold_code == refetch_threshold_code(config.requant_threshold)
    assert fetcher.row_latency == 2
    assert fetcher.max_run == min(config.max_context, 256 * config.axi_data_bits // 8 // fetcher.row_bytes[0])
    Fragment.get(fetcher, None)


def _run_comb(dut, testbench):
    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("msb, lsb, d", [(4, 4, 8), (6, 4, 8), (8, 4, 16), (12, 4, 8), (6, 4, 64)])
def test_unpacker(msb, lsb, d):
    """Packed rows of either plane -> the golden codes (msb_only / LSB codes)."""
    dut = RowUnpacker(head_dim=d, msb_bits=msb, lsb_bits=lsb, index_bits=6)
    rng = np.random.default_rng(msb * 1000 + d)
    q = rng.integers(-(1 << (msb + lsb - 1)) + 1, 1 << (msb + lsb - 1), (20, d))
    hi, lo = split_planes(q, msb, lsb)
    packed = {Plane.MSB: pack_plane(hi, msb, True), Plane.LSB: pack_plane(lo, lsb, False)}
    want = {Plane.MSB: msb_only(hi, lsb), Plane.LSB: lo}

    async def testbench(ctx):
        for plane in (Plane.MSB, Plane.LSB):
            for row in range(q.shape[0]):
                raw = int.from_bytes(packed[plane][row].tobytes(), "little")
                # Bytes past the plane's row (the wider row's tail) are noise the unpacker ignores.
                used = 8 * len(packed[plane][row])
                noise = random.Random(row).getrandbits(8 * max(dut.row_bytes)) >> used
                ctx.set(dut.raw_rows.p.raw, raw | noise << used)
                ctx.set(dut.raw_rows.p.plane, plane)
                got = [ctx.get(dut.rows.p.codes[e]) for e in range(d)]
                assert got == want[plane][row].tolist(), f"plane {plane} row {row}"

    _run_comb(dut, testbench)


def test_merge_lsb():
    lsb = 4
    code, lsb_code = Signal(12), Signal(12)
    merged = merge_lsb(code.as_signed(), lsb_code, lsb_bits=lsb)
    rng = random.Random(SEED)
    m = Module()
    out = Signal(12)
    m.d.comb += out.eq(merged)

    async def testbench(ctx):
        for _ in range(300):
            msb_plane, lsb_plane = rng.randint(-128, 127), rng.randint(0, 15)
            ctx.set(code, int(msb_only(msb_plane, lsb)) & 0xFFF)
            ctx.set(lsb_code, lsb_plane)
            want = int(golden_merge_lsb(msb_only(msb_plane, lsb), lsb_plane, lsb))
            assert ctx.get(out.as_signed()) == want

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()


def test_decision():
    """Registered decisions, with bubbles and backpressure, against golden.fetch.refetch_rows."""
    thr = refetch_threshold_code(0.1)
    dut = RefetchDecision(threshold_code=thr)
    rng = random.Random(SEED)
    summaries = [(rng.choice((thr - 1, thr, thr + 1, rng.randint(0, 1 << 15))), rng.random() < 0.8)
                 for _ in range(60)]
    want = refetch_rows([m for m, _ in summaries], [v for _, v in summaries], thr).tolist()
    got, refetched = [], []

    async def source(ctx):
        pause = random_pause(random.Random(rng.random()), 0.3)
        for max_prob, visible in summaries:
            await stream_put(ctx, dut.summary, {"max_prob": max_prob, "visible": visible}, pause=pause)

    async def sink(ctx):
        pause = random_pause(random.Random(rng.random()), 0.4)
        for _ in summaries:
            got.append(bool((await stream_get(ctx, dut.decision, pause=pause)).refetch))

    async def pulses(ctx):
        while len(got) < len(summaries):
            _, _, pulse = await ctx.tick().sample(dut.refetched)
            refetched.append(pulse)

    run(dut, source, sink, pulses, deadline_cycles=5000)
    assert got == want
    assert sum(refetched) == sum(want)


def test_counters_saturate():
    dut = FetchCounters(bits=8, step_bits=8)

    async def testbench(ctx):
        ctx.set(dut.add_msb, 100)
        ctx.set(dut.burst, 1)
        for _ in range(3):
            await ctx.tick()
        ctx.set(dut.add_msb, 0)
        ctx.set(dut.burst, 0)
        await ctx.tick().repeat(2)        # the events are registered before they are counted
        assert ctx.get(dut.counts.bytes_msb) == 255 and ctx.get(dut.counts.bursts) == 3
        assert ctx.get(dut.counts.bytes_lsb) == 0

    run(dut, testbench, deadline_cycles=1_000_000)


def _assembler_case(rng, width, row_bytes, runs):
    """Descriptions and R words of ``runs`` ((first, count, plane, last)) over random memory."""
    memory = bytes(rng.getrandbits(8) for _ in range(4096))
    bases = (0, 2048)
    descs, words, rows = [], [], []
    for first, count, plane, last in runs:
        rb = row_bytes[plane]
        start = bases[plane] + first * rb
        descs.append({"first": first, "count": count, "nbytes": count * rb, "skip": start % width,
                      "plane": plane, "last": last})
        for word in range(start // width * width, start + count * rb, width):
            words.append(int.from_bytes(memory[word:word + width], "little"))
        rows += [(first + i, memory[start + i * rb:start + (i + 1) * rb], last and i == count - 1)
                 for i in range(count)]
    return descs, words, rows


@pytest.mark.parametrize("width, row_bytes, pauses", [(4, (6, 4), 0.0), (4, (6, 4), 0.4), (8, (3, 2), 0.3),
                                                      (8, (16, 8), 0.0)])
def test_assembler(width, row_bytes, pauses):
    """Rows cut from the words of runs that start anywhere in a word; with no pauses, each row
    is valid ``latency`` cycles after the beat that completes it is taken."""
    from hw.fetcher import BurstIssuer
    rng = random.Random(SEED + width)
    run_bits = 3
    dut = RowAssembler(data_bytes=width, row_bytes=row_bytes, index_bits=8, run_bits=run_bits,
                       nbytes_bits=BurstIssuer.nbytes_bits_of(run_bits, row_bytes))
    runs = [(rng.randrange(100), rng.randint(1, 7), rng.randrange(2), rng.random() < 0.3) for _ in range(25)]
    descs, words, want = _assembler_case(rng, width, row_bytes, runs)
    got, beat_cycles, row_cycles, ticks = [], [], [], []

    def pause():
        return random_pause(random.Random(rng.random()), pauses) if pauses else None

    async def put_descs(ctx):
        bubbles = pause()
        for desc in descs:
            await stream_put(ctx, dut.desc, desc, pause=bubbles)

    async def put_beats(ctx):
        bubbles = pause()
        for word in words:
            await stream_put(ctx, dut.beats, {"data": word}, pause=bubbles)
            beat_cycles.append(len(ticks))

    async def take_rows(ctx):
        backpressure = pause()
        for _ in want:
            row = await stream_get(ctx, dut.rows, pause=backpressure)
            got.append((row.index, row.raw, row.last))
            row_cycles.append(len(ticks))

    async def clock(ctx):
        # Cycles since the start, read after each beat taken and each row.
        while len(got) < len(want):
            await ctx.tick()
            ticks.append(1)

    run(dut, put_descs, put_beats, take_rows, clock, deadline_cycles=20_000)
    for n, ((gi, raw, gl), (wi, data, wl)) in enumerate(zip(got, want, strict=True)):
        assert (gi, gl) == (wi, wl), f"row {n}: index/last {gi, gl}, expected {wi, wl}"
        assert raw & ((1 << 8 * len(data)) - 1) == int.from_bytes(data, "little"), f"row {n} bytes"
    if not pauses:
        # The beat that completes row r holds its last byte; the row is valid latency cycles later.
        ends, done = [], 0
        for desc in descs:
            rb = row_bytes[desc["plane"]]
            for i in range(desc["count"]):
                ends.append(done + (desc["skip"] + (i + 1) * rb - 1) // width)
            done += (desc["skip"] + desc["nbytes"] + width - 1) // width
        late = [(r, row_cycles[r] - beat_cycles[e]) for r, e in enumerate(ends)]
        assert min(d for _, d in late) == dut.latency, late[:8]
