"""cocotb testbench of the top-k engine's fixed-latency stages alone: ``RankSelect`` and ``ZeroEliminator``.

The registry's blocks ``topk_rank`` (the pivot picker, :class:`hw.rank_select.RankSelect`)
and ``topk_packer`` (:class:`hw.zero_eliminator.ZeroEliminator`) have no
streams: a beat enters with ``i_valid`` and leaves a fixed number of cycles
later (advancing cycles, ``en``, for the packer). Run through
:func:`sim.runner.run` with ``block`` (the registry name), ``config`` (the
:class:`gen.config.SpattenConfig` fields; the component is rebuilt from
them) and ``beats`` (random input beats per test); the beats checked per test go to
``CHECKED_FILE``, as :mod:`sim.array_bench` writes them. Every beat is compared
with the reference (the sample element of each target rank in descending
order, lower lane first among equals; the kept lanes packed in order) at the
exact cycle the component's ``latency`` says, with random bubbles on the
input and, for the packer, random stalls (``en`` low). A mismatch names the
seed, the beat and actual vs expected; ``SEED=<seed>`` reproduces the run.
"""

import random

import cocotb
from cocotb.triggers import FallingEdge

from gen.blocks import build_block
from gen.config import SpattenConfig
from sim import runner
from sim.array_bench import CHECKED_FILE, record_checked
from sim.clock import ClockDomain
from sim.streams import pack, unpack

__all__ = ["CHECKED_FILE"]


class _Ports:
    """Set and read the component's ports through their Amaranth shapes."""

    def __init__(self, dut, component):
        self.dut, self.members = dut, component.signature.members

    def set(self, name, value):
        getattr(self.dut, name).value = pack(self.members[name].shape, value)

    def get(self, name):
        return unpack(self.members[name].shape, int(getattr(self.dut, name).value))


def _value_range(shape):
    from amaranth.hdl import Shape

    s = Shape.cast(shape)
    return (-(1 << s.width - 1), (1 << s.width - 1) - 1) if s.signed else (0, (1 << s.width) - 1)


async def _start(dut):
    parameters = runner.params()
    component = build_block(parameters["block"], SpattenConfig(**parameters["config"]))
    domain = ClockDomain(dut)
    domain.start()
    await domain.reset(2)
    await FallingEdge(domain.clk)
    return component, _Ports(dut, component), parameters, random.Random(runner.seed())


def _rank_beat(rng, lanes, lo, hi):
    values = [rng.choice((rng.randint(lo, hi), lo, hi, rng.randint(lo, min(hi, lo + 3))))
              for _ in range(lanes)]
    return values, rng.randrange(1, 1 << lanes)


@cocotb.test()
@cocotb.parametrize(valid=[0.3, 0.8, 1.0], stall=[0.0, 0.3])
async def random_beats(dut, valid, stall):
    """Random beats with bubbles (``i_valid`` at the rate ``valid``) and stalls (packer: ``en`` low
    at the rate ``stall``); every output exact at its cycle."""
    component, ports, parameters, rng = await _start(dut)
    label = f"SEED={runner.seed()} {parameters['block']} valid={valid} stall={stall}"
    if parameters["block"] == "topk_rank":
        checked = await _run_rank(component, ports, rng, parameters["beats"], valid, label)
    else:
        checked = await _run_packer(component, ports, rng, parameters["beats"], valid, stall, label)
    record_checked(f"random_beats_{valid}_{stall}", range(checked))


async def _run_rank(dut, ports, rng, beats, valid, label):
    shape = dut.signature.members["i_data"].shape.elem_shape
    lanes = dut.signature.members["i_data"].shape.length
    lo, hi = _value_range(shape)
    ranks, copies = dut.ranks, dut.copies
    targets, results, issued, held, sent, checked, t = {}, {}, set(), None, 0, 0, 0
    while sent < beats or results:
        if t in results:
            held = results.pop(t)
            checked += 1
        got_valid = ports.get("o_valid")
        assert got_valid == int(t - dut.latency in issued), \
            f"{label}: cycle {t} o_valid={got_valid}"
        if held is not None:
            got = ports.get("o_value")
            want = [[value] * copies for value in held]
            assert got == want, f"{label}: cycle {t} o_value\n  got      {got}\n  expected {want}"
        go = sent < beats and rng.random() < valid
        values, mask = _rank_beat(rng, lanes, lo, hi)
        ports.set("i_valid", int(go))
        ports.set("i_data", values)
        ports.set("i_mask", mask)
        if go:
            sent += 1
            issued.add(t)
            # Descending, the lower lane first among equals.
            order = [values[lane] for _, lane in sorted((-v, lane) for lane, v in enumerate(values)
                                                        if mask >> lane & 1)]
            want_ranks = [rng.randrange(len(order)) for _ in range(ranks)]
            targets[t + dut.target_delay] = want_ranks
            results[t + dut.latency] = [order[r] for r in want_ranks]
        ports.set("target", targets.pop(t, [rng.randrange(lanes) for _ in range(ranks)]))
        t += 1
        await FallingEdge(ports.dut.clk)
    return checked


def _pack_keep(values, keep):
    return [v for lane, v in enumerate(values) if keep >> lane & 1]


async def _run_packer(dut, ports, rng, beats, valid, stall, label):
    shape = dut.signature.members["i_data"].shape.elem_shape
    lanes = dut.lanes
    lo, hi = _value_range(shape)
    # advancing edge number -> the beat whose o_* (and early_*) show after it
    outputs, earlies, advanced, sent, checked, previous_en = {}, {}, 0, 0, 0, 0
    while sent < beats or outputs:
        if previous_en:
            advanced += 1
            want = outputs.pop(advanced, None)
            got_valid = ports.get("o_valid")
            assert got_valid == int(want is not None), f"{label}: advance {advanced} o_valid={got_valid}"
            if want is not None:
                count, data = ports.get("o_count"), ports.get("o_data")
                assert (count, data[:count]) == (len(want), want), \
                    f"{label}: advance {advanced} o_count {count} o_data {data[:count]}, expected {want}"
                checked += 1
            early = earlies.pop(advanced, None)
            got_early = ports.get("early_valid")
            assert got_early == int(early is not None), f"{label}: advance {advanced} early_valid={got_early}"
            if early is not None:
                counts = ports.get("early_counts")
                assert ports.get("early_count") == early and counts == [early] * len(counts), \
                    f"{label}: advance {advanced} early_count {ports.get('early_count')} {counts}, " \
                    f"expected {early}"
        en = int(rng.random() >= stall)
        go = sent < beats and rng.random() < valid
        values = [rng.randint(lo, hi) for _ in range(lanes)]
        keep = rng.choice((rng.randrange(1 << lanes), 0, (1 << lanes) - 1))
        ports.set("en", en)
        ports.set("i_valid", int(go))
        ports.set("i_data", values)
        ports.set("i_keep", keep)
        if go and en:
            sent += 1
            outputs[advanced + dut.latency] = _pack_keep(values, keep)
            earlies[advanced + dut.early_latency] = bin(keep).count("1")
        previous_en = en
        await FallingEdge(ports.dut.clk)
    return checked
