"""Drive and watch ``amaranth.lib.stream`` ports of emitted Verilog from cocotb.

Amaranth flattens a stream port named ``x`` into the Verilog ports
``x__valid``, ``x__ready`` and ``x__payload`` (one vector holding the whole
layout). A :class:`StreamSource` drives an input stream, a :class:`StreamSink`
accepts from an output stream; both are addressed by the prefix ``x`` and
record every transfer as a :class:`Beat` with its clock cycle.

Payloads are packed and unpacked with the Amaranth layout itself
(:func:`pack`, :func:`unpack`): a ``StructLayout`` is a ``dict``, an
``ArrayLayout`` a ``list``, a signed field a negative ``int``; field offsets are
never typed twice.

Bubbles and backpressure come from pause generators (as cocotbext-axi's): any
iterator yielding ``True`` for a cycle without ``valid`` (source) or without
``ready`` (sink). :func:`random_pause` and :func:`pattern_pause` make them.
"""

import itertools
import random
from collections import deque
from dataclasses import dataclass

import cocotb
from amaranth.hdl import Shape
from amaranth.lib import data, stream
from cocotb.triggers import Event, RisingEdge

__all__ = ["Beat", "StreamSource", "StreamSink", "pack", "unpack",
           "random_pause", "pattern_pause", "payload_shape"]


def payload_shape(shape_or_signature):
    """The payload shape of a ``stream.Signature``, or the argument itself."""
    if isinstance(shape_or_signature, stream.Signature):
        return shape_or_signature.payload_shape
    return shape_or_signature


def _width(shape):
    if isinstance(shape, data.Layout):
        return shape.size
    return Shape.cast(shape).width


def pack(shape, value):
    """Pack ``value`` (dict / list / int, nested as ``shape``) into an ``int``."""
    shape = payload_shape(shape)
    if isinstance(shape, data.Layout):
        if isinstance(value, int):
            return value & ((1 << shape.size) - 1)
        bits = 0
        if isinstance(shape, data.ArrayLayout):
            if len(value) > shape.length:
                raise ValueError(f"value has {len(value)} elements, the layout holds {shape.length}")
            items = enumerate(value)
        else:
            unknown = set(value) - {key for key, _ in shape}
            if unknown:
                raise ValueError(f"fields {sorted(unknown)} are not in the layout")
            items = value.items()
        for key, item in items:
            field = shape[key]
            bits |= pack(field.shape, item) << field.offset
        return bits
    cast = Shape.cast(shape)
    value = int(value)
    if cast.signed:
        lo, hi = -(1 << cast.width - 1), (1 << cast.width - 1) - 1
    else:
        lo, hi = 0, (1 << cast.width) - 1
    if not lo <= value <= hi:
        raise ValueError(f"value {value} does not fit {cast} (range {lo}..{hi})")
    return value & ((1 << cast.width) - 1)


def unpack(shape, bits):
    """Unpack an ``int`` into nested dict / list / int following ``shape``."""
    shape = payload_shape(shape)
    bits = int(bits)
    if isinstance(shape, data.Layout):
        fields = {key: unpack(field.shape, bits >> field.offset & ((1 << field.width) - 1))
                  for key, field in shape}
        if isinstance(shape, data.ArrayLayout):
            return [fields[index] for index in range(shape.length)]
        return fields
    cast = Shape.cast(shape)
    bits &= (1 << cast.width) - 1
    if cast.signed and bits >> (cast.width - 1):
        bits -= 1 << cast.width
    return bits


def random_pause(rng, probability):
    """Pause each cycle with ``probability``, drawn from ``rng`` (a ``random.Random``)."""
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, not {rng!r}")
    if not 0.0 <= probability < 1.0:
        raise ValueError(f"probability must be in [0, 1), not {probability!r}")
    while True:
        yield rng.random() < probability


def pattern_pause(pattern):
    """Repeat ``pattern`` (an iterable of bools) forever."""
    return itertools.cycle([bool(p) for p in pattern])


@dataclass(frozen=True)
class Beat:
    """One transfer: the unpacked payload and the rising edge (``ClockDomain.cycle``) it happened at."""
    payload: object
    cycle: int


class _Port:
    def __init__(self, dut, prefix, domain, shape, pause):
        self.prefix = prefix
        self.shape = payload_shape(shape)
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        if len(self.payload) != _width(self.shape):
            raise ValueError(f"{prefix}__payload is {len(self.payload)} bits wide, the layout "
                             f"{self.shape!r} is {_width(self.shape)}")
        self.domain = domain
        self.clk = domain.clk
        self.beats = []
        self.set_pause(pause)
        self._idle = Event()
        self._idle.set()

    def set_pause(self, pause):
        """Use the iterator ``pause`` (yielding True = no handshake this cycle); None for never."""
        self._pause = iter(pause) if pause is not None else None

    def _paused(self):
        return self._pause is not None and next(self._pause)



class StreamSource(_Port):
    """Drives the input stream ``prefix`` of ``dut`` from a queue of payloads.

    Parameters
    ----------
    dut : cocotb handle
        The top level.
    prefix : str
        Stream port name: drives ``<prefix>__valid`` and ``<prefix>__payload``,
        samples ``<prefix>__ready``.
    domain : sim.clock.ClockDomain
        Clock and time base of the beats.
    shape : data.Layout, shape, or stream.Signature
        Payload shape (e.g. ``component.port.payload.shape()``).
    pause : iterator of bool or None
        ``True`` = no new beat offered this cycle (a bubble); an offered beat
        stays valid until accepted, as ``amaranth.lib.stream`` requires.

    ``send`` queues a payload (dict / list / int); ``wait_idle`` returns when
    every queued payload has been transferred; ``pending`` counts those not yet
    transferred. ``beats`` lists the transfers (:class:`Beat`).
    """

    def __init__(self, dut, prefix, domain, shape, *, pause=None):
        super().__init__(dut, prefix, domain, shape, pause)
        self._queue = deque()
        self.valid.value = 0
        self._task = cocotb.start_soon(self._run())

    def send(self, payload):
        self._queue.append((payload, pack(self.shape, payload)))
        self._idle.clear()

    async def wait_idle(self):
        await self._idle.wait()

    @property
    def pending(self):
        return len(self._queue)

    async def _run(self):
        driving = False
        while True:
            await RisingEdge(self.clk)
            if driving and int(self.ready.value):
                payload, _ = self._queue.popleft()
                self.beats.append(Beat(payload, self.domain.cycle()))
                driving = False
                if not self._queue:
                    self._idle.set()
            # The pause generator advances once per cycle, whether data waits or not; a
            # beat once offered stays offered until taken (amaranth.lib.stream's rule).
            paused = self._paused()
            if not driving and self._queue and not paused:
                driving = True
                self.payload.value = self._queue[0][1]
            self.valid.value = int(driving)

    def stop(self):
        self._task.cancel()
        self.valid.value = 0


class StreamSink(_Port):
    """Accepts from the output stream ``prefix`` of ``dut`` and queues the payloads.

    Parameters as :class:`StreamSource`; ``pause`` yielding ``True`` holds
    ``<prefix>__ready`` low for that cycle (backpressure). A beat the DUT
    offers must stay valid and unchanged until taken, else AssertionError.

    ``recv`` waits for and returns the next :class:`Beat` (payload unpacked);
    ``empty`` says whether none is waiting; ``beats`` lists every transfer.
    """

    def __init__(self, dut, prefix, domain, shape, *, pause=None):
        super().__init__(dut, prefix, domain, shape, pause)
        self._queue = deque()
        self._arrived = Event()
        self._accepting = not self._paused()
        self.ready.value = int(self._accepting)
        self._task = cocotb.start_soon(self._run())

    async def recv(self):
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        return self._queue.popleft()

    def empty(self):
        return not self._queue

    async def _run(self):
        held = None  # payload offered but not taken at the previous edge
        while True:
            await RisingEdge(self.clk)
            valid = int(self.valid.value)
            if held is not None and (not valid or int(self.payload.value) != held):
                raise AssertionError(f"{self.prefix}: at cycle {self.domain.cycle()} the DUT withdrew or "
                                     f"changed a beat it offered before it was accepted "
                                     f"(valid={valid}, payload {held:#x} -> {self.payload.value})")
            held = None
            if valid and self._accepting:
                beat = Beat(unpack(self.shape, self.payload.value), self.domain.cycle())
                self.beats.append(beat)
                self._queue.append(beat)
                self._arrived.set()
            elif valid:
                held = int(self.payload.value)
            self._accepting = not self._paused()
            self.ready.value = int(self._accepting)

    def stop(self):
        self._task.cancel()
        self.ready.value = 0
