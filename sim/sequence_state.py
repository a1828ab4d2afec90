"""cocotb testbench of the sequence state (``hw.core.sequence.SequenceState``) on emitted Verilog.

Parameters: ``preset`` or ``config`` (:func:`sim.runner.config`; the block is
``hw.core.sequence.sequence_state_from_config`` of it) and ``commands`` (layer
commands per test). A run is a random series of sequences
(:func:`sim.sequence_cases.random_commands`: fresh starts, growth, token and
head pruning, ``KEYS_SHRINK`` errors), with the importances of a few head
jobs and some head importances before each command, as the head datapath
sends them. Every command's survivor record, its ``pruned`` beat and the
alive list that follows are compared with :class:`sim.sequence_cases.Reference`
(``golden.spatten.SpattenAttention``'s sequence state); random bubbles on the
four inputs, random backpressure on the three outputs. ``random_sequences``
records the commands it checked.
"""

import random

import cocotb

from golden.command import out_row_bytes
from hw.core.sequence import sequence_state_from_config
from sim import runner
from sim.clock import ClockDomain
from sim.sequence_cases import Reference, random_commands, random_head_importance, random_job
from sim.streams import StreamSink, StreamSource, random_pause

INPUTS = ("layer", "importance", "head_importance", "alive_request")
OUTPUTS = ("survivors", "pruned", "alive")


class SequenceBench:
    """The DUT's streams, its configuration and the reference."""

    def __init__(self, dut, pause):
        self.cfg = runner.config()
        self.state = sequence_state_from_config(self.cfg)
        self.rng = random.Random(runner.seed())
        self.domain = ClockDomain(dut)
        pauses = random.Random(self.rng.getrandbits(32))
        self.ports = {}
        for name in INPUTS + OUTPUTS:
            kind = StreamSource if name in INPUTS else StreamSink
            self.ports[name] = kind(dut, name, self.domain, getattr(self.state, name).payload.shape(),
                                    pause=random_pause(pauses, pause) if pause else None)
        self.ref = Reference(self.cfg, self.state.protect_sinks, self.state.protect_recent)
        self.row_bytes = out_row_bytes(self.cfg.head_dim, self.cfg.value_bits)

    async def start(self):
        self.domain.start()
        await self.domain.reset()

    async def feed_importances(self):
        """A few head jobs' token importances and some head scores, into the DUT and the reference."""
        rng, ref = self.rng, self.ref
        for _ in range(rng.randrange(4)):
            for token, value, last, none in random_job(rng, ref.alive_list):
                self.ports["importance"].send({"token": token, "importance": value, "last": last,
                                               "none": none})
                if not none:
                    ref.add(token, value)
        for _ in range(rng.randrange(6)):
            head, value = random_head_importance(rng)
            self.ports["head_importance"].send({"head": head, "importance": value})
            ref.add_head(head, value)
        # A layer beat is taken only once no importance is offered: every sum lands before it.
        await self.ports["importance"].wait_idle()
        await self.ports["head_importance"].wait_idle()

    async def command(self, c, where):
        """Send command ``c``; check its survivor rows, its ``pruned`` beat and the alive list after."""
        want_rows, want = self.ref.step(c)
        self.ports["layer"].send(c.__dict__)
        for r, raw in enumerate(want_rows):
            beat = (await self.ports["survivors"].recv()).payload
            got = beat["data"].to_bytes(self.row_bytes, "little")
            assert got == raw, f"{where}: survivor row {r}: {got.hex()}, expected {raw.hex()}"
            last = r == len(want_rows) - 1
            assert beat["last"] == last, f"{where}: survivor row {r}: last={beat['last']}"
        beat = (await self.ports["pruned"].recv()).payload
        got = {name: beat[name] for name in want}
        assert got == want, f"{where}: pruned {got}, expected {want}"
        self.ports["alive_request"].send(0)
        alive = []
        while True:
            beat = (await self.ports["alive"].recv()).payload
            if beat["none"]:
                assert beat["last"], f"{where}: an alive beat with none but not last"
            else:
                alive.append(beat["index"])
            if beat["last"]:
                break
        assert alive == self.ref.alive_list, f"{where}: alive list {alive}, expected {self.ref.alive_list}"
        for name in OUTPUTS:
            assert self.ports[name].empty(), f"{where}: an extra beat on {name}"
        return want


@cocotb.test()
@cocotb.parametrize(pause=[0.0, 0.3])
async def random_sequences(dut, pause):
    """Random command runs with importances between them: every row, outcome and alive list exact."""
    bench = SequenceBench(dut, pause)
    await bench.start()
    count = runner.params()["commands"]
    commands = random_commands(bench.rng, bench.cfg.max_context, count)
    seen = {"errors": 0, "tokens_pruned": 0, "heads_pruned": 0}
    for step, c in enumerate(commands):
        await bench.feed_importances()
        want = await bench.command(c, f"SEED={runner.seed()} pause={pause} command {step} {c}")
        for key in ("tokens_pruned", "heads_pruned"):
            seen[key] += want[key]
        seen["errors"] += want["error"]
    if count >= 100:
        # A run this long meets each case; a shorter one (a fuzz smoke) need not.
        assert all(seen.values()), f"SEED={runner.seed()}: the run missed a case: {seen}"
    runner.record_checked(f"random_sequences_{pause}", count)
