"""Stream helpers for testbenches in Amaranth's own simulator (``tests/test_hw_*.py``).

The cocotb twin is :mod:`sim.streams`. As Glasgow's ``stream_put`` /
``stream_get``: :func:`stream_put` offers one payload and returns once it is
taken, :func:`stream_get` waits for one beat and returns its payload; both
take an optional pause generator (``sim.streams.random_pause``: ``True`` =
a bubble, or a cycle of backpressure, before the beat). :func:`run` runs
testbenches on a component with a clock and a deadline.
"""

from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

__all__ = ["stream_put", "stream_get", "run"]


async def stream_put(ctx, stream, payload, *, pause=None):
    """Offer ``payload`` on ``stream`` (after the bubbles of ``pause``) until it is taken."""
    while pause is not None and next(pause):
        ctx.set(stream.valid, 0)
        await ctx.tick()
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, *, pause=None):
    """The payload of the next beat on ``stream`` (``ready`` held low while ``pause`` says so)."""
    while pause is not None and next(pause):
        ctx.set(stream.ready, 0)
        await ctx.tick()
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


def run(dut, *testbenches, deadline_cycles=100_000, period=1e-8):
    """Run ``testbenches`` (async functions of ``ctx``) on ``dut`` with a clock until they return.

    A watchdog fails the run if they are not all done after
    ``deadline_cycles`` (a hang is an error, not a stuck test).
    """
    # The clock domain is declared around the component, so that a purely
    # combinational one (no sync logic of its own) runs under a clock too.
    top = Module()
    top.domains.sync = ClockDomain()
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(period)
    done = []

    def finishing(testbench):
        async def wrapped(ctx):
            await testbench(ctx)
            done.append(testbench)
        return wrapped

    for testbench in testbenches:
        sim.add_testbench(finishing(testbench))

    async def watchdog(ctx):
        for _ in range(deadline_cycles):
            if len(done) == len(testbenches):
                return
            await ctx.tick()
        raise AssertionError(f"{len(testbenches) - len(done)} testbench(es) still running after "
                             f"{deadline_cycles} cycles")

    sim.add_testbench(watchdog)
    sim.run()
