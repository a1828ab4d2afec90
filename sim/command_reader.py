"""cocotb testbench of the command reader (``hw.core.command_reader.CommandReader``).

Parameters: ``preset`` or ``config`` (the reader of that configuration,
:func:`sim.runner.config`) and ``commands`` (random records per test; the
random tests record them as checked). The DRAM is ``sim.fetcher.AxiMemory`` (AXI RAM
with a random latency per burst, SLVERR / DECERR words, an AR log) with
random AR and R stalls; the result stream sees random backpressure and the
requests random bubbles.

Checks, for every request: the result beat (error code and decoded command,
zero on an error) equal to ``sim.command_cases.expected_result`` (golden's
``check_command`` and ``unpack_command``); exactly one burst of the record
(``RECORD_BYTES`` at its address) in the AR log, none for a misaligned
request; ``beat`` pulses = R beats.
"""

import random

import cocotb
from cocotb.triggers import RisingEdge

from golden.command import RECORD_BYTES, Error, pack_command
from golden.fetch import Status
from hw.core.command_reader import command_reader_from_config
from sim import runner
from sim.clock import ClockDomain
from sim.command_cases import bad_cases, boundary_cases, expected_result, good, mutate, random_good
from sim.fetcher import AxiMemory
from sim.streams import StreamSink, StreamSource, random_pause, unpack

_SLOTS = 64     # record slots in the memory


class ReaderBench:
    def __init__(self, dut):
        self.dut = dut
        self.cfg = runner.config()
        self.reader = command_reader_from_config(self.cfg)
        self.rng = random.Random(runner.seed())
        self.domain = ClockDomain(dut)
        self.memory = AxiMemory(dut, self.domain, size=_SLOTS * RECORD_BYTES * 2,
                                rng=random.Random(self.rng.random()))
        self.memory.latency = (1, 12)
        self.beats = 0

    async def start(self):
        self.domain.start()
        self.request = StreamSource(self.dut, "request", self.domain, self.reader.request.p.shape(),
                                    pause=random_pause(random.Random(self.rng.random()), 0.3))
        await self.domain.reset()
        self.result = StreamSink(self.dut, "result", self.domain, self.reader.result.p.shape(),
                                 pause=random_pause(random.Random(self.rng.random()), 0.3))
        self.memory.pauses(ar=random_pause(random.Random(self.rng.random()), 0.3),
                           r=random_pause(random.Random(self.rng.random()), 0.3))
        cocotb.start_soon(self._count_beats())

    async def _count_beats(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.beats += int(self.dut.beat.value)

    async def run(self, cases, label):
        """``cases``: (address, words or None when the memory is left as is, expected error or None)."""
        zero = unpack(self.reader.command, 0)
        log_before, beats_before = len(self.memory.log), self.beats
        expected_bursts = []
        for addr, words, _ in cases:
            if words is not None:
                self.memory.write(addr, record_bytes(words))
            self.request.send({"addr": addr})
        for i, (addr, words, error) in enumerate(cases):
            beat = (await self.result.recv()).payload
            if error is None:
                error, command = expected_result(words, self.cfg)
            else:
                command = None
            where = f"{label} request {i} at {addr:#x} (seed {runner.seed()})"
            assert beat["error"] == error, (f"{where}: error {Error(beat['error']).name}, "
                                            f"expected {error.name}")
            assert beat["command"] == (command or zero), f"{where}: command {beat['command']} != {command}"
            if error is not Error.ALIGN_CMD:
                expected_bursts.append(addr)
        await self.domain.cycles(4)
        log = self.memory.log[log_before:]
        assert [entry[1] for entry in log] == expected_bursts, f"{label}: AR log {log}"
        beats = RECORD_BYTES * 8 // self.cfg.axi_data_bits
        assert all(entry[2] == beats - 1 for entry in log), f"{label}: burst lengths {log}"
        assert self.beats - beats_before == beats * len(expected_bursts), f"{label}: beat count"


def record_bytes(words):
    return words.astype("<u4").tobytes()


@cocotb.test()
async def good_commands(dut):
    """Random valid commands decode bit-exact."""
    bench = ReaderBench(dut)
    await bench.start()
    count = runner.params()["commands"]
    # Distinct slots in a round: every record stays in memory until its request is served.
    for start in range(0, count, _SLOTS):
        slots = bench.rng.sample(range(_SLOTS), min(_SLOTS, count - start))
        cases = [(slot * RECORD_BYTES, pack_command(random_good(bench.rng, bench.cfg)), None)
                 for slot in slots]
        await bench.run(cases, f"good from {start}")
    runner.record_checked("good_commands", count)


@cocotb.test()
async def bad_commands(dut):
    """Mutated records: each gets golden's error (or decodes, when still valid); good ones between."""
    bench = ReaderBench(dut)
    await bench.start()
    errors = set()
    for round_ in range(max(1, runner.params()["commands"] // 16)):
        cases = []
        for i in range(16):
            words = pack_command(random_good(bench.rng, bench.cfg))
            if i % 4:
                words = mutate(bench.rng, words, bench.cfg)
            cases.append((i * RECORD_BYTES, words, None))
            errors.add(expected_result(words, bench.cfg)[0])
        await bench.run(cases, f"bad round {round_}")
    assert len(errors) >= 8, f"only {sorted(e.name for e in errors)} seen"
    runner.record_checked("bad_commands", 16 * (round_ + 1))


@cocotb.test()
async def every_rule(dut):
    """One record per command rule, each followed by a good command; then records on every boundary."""
    bench = ReaderBench(dut)
    await bench.start()
    records = []
    for overrides, error in bad_cases(bench.cfg):
        records += [pack_command(good(**overrides)), pack_command(good())]
        assert expected_result(records[-2], bench.cfg)[0] is error
    for overrides in boundary_cases(bench.cfg):
        records.append(pack_command(good(**overrides)))
        assert expected_result(records[-1], bench.cfg)[0] is Error.NONE
    # Slots reused from one run to the next: a run's records stay until it has been served.
    for start in range(0, len(records), _SLOTS):
        chunk = records[start:start + _SLOTS]
        await bench.run([(i * RECORD_BYTES, words, None) for i, words in enumerate(chunk)],
                        f"every rule from record {start}")


@cocotb.test()
async def misaligned_and_axi_errors(dut):
    """ALIGN_CMD reads nothing; SLVERR / DECERR in a record give CMD_READ; then good commands run."""
    bench = ReaderBench(dut)
    await bench.start()
    words = pack_command(random_good(bench.rng, bench.cfg))
    bench.memory.write(0, record_bytes(words))
    word_bytes = bench.cfg.axi_data_bits // 8
    bench.memory.errors = {RECORD_BYTES + 3 * word_bytes: Status.SLVERR,
                           2 * RECORD_BYTES + RECORD_BYTES - word_bytes: Status.DECERR}
    for slot in (1, 2):
        bench.memory.write(slot * RECORD_BYTES, record_bytes(words))
    top = 1 << bench.cfg.axi_addr_bits
    cases = [(RECORD_BYTES // 2, None, Error.ALIGN_CMD), (0, words, None), (4, None, Error.ALIGN_CMD),
             (RECORD_BYTES, None, Error.CMD_READ), (0, words, None), (2 * RECORD_BYTES, None, Error.CMD_READ),
             (top, None, Error.ALIGN_CMD), (0, words, None)]
    await bench.run(cases, "errors")

