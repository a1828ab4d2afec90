"""Host side of the board's UART bridge (:mod:`hw.board.protocol`): 32-bit reads and writes.

:class:`UartLink` works on any byte port with ``write(bytes)`` and
``read(n) -> bytes`` (a ``serial.Serial`` opened by :meth:`UartLink.open`,
or a simulated line); it splits long transfers into requests of at most
``protocol.MAX_WORDS`` words and raises :class:`LinkError` on any status
but OK, naming the address and the status. A short answer (the port's read
timing out) also raises: after it the link waits out the bridge's request
timeout and flushes, so the next request starts clean.

:class:`LinkTransport` is the driver's ``gen.driver.Transport`` over the same
requests on an async byte port (``async write(bytes)``, ``async read(n)``,
``async resync()``), with the board's address map (``hw.board.top``): register
offsets from ``REGS_BASE``, memory addresses from ``RAM_BASE``.
:class:`SerialTransport` is that transport on a :class:`UartLink`'s serial
port (the board); ``sim.board_e2e`` runs it on cocotbext-uart in simulation.
Both ends share :func:`write_plan`, :func:`read_plan` and the answer checks.
"""

import asyncio
import struct
import time

from hw.board import protocol

from .driver import Transport

__all__ = ["UartLink", "LinkError", "LinkTransport", "SerialTransport", "write_plan", "read_plan",
           "check_write_answer", "read_answer_words"]


def write_plan(address, words):
    """``(address, request, answer_bytes)`` of each request writing ``words`` from ``address``."""
    words = list(words)
    for start in range(0, len(words), protocol.MAX_WORDS):
        chunk = words[start:start + protocol.MAX_WORDS]
        at = address + 4 * start
        yield at, protocol.write_request(at, chunk), protocol.write_answer_bytes(len(chunk))


def read_plan(address, count):
    """``(address, request, answer_bytes)`` of each request reading ``count`` words from ``address``."""
    for start in range(0, count, protocol.MAX_WORDS):
        n = min(protocol.MAX_WORDS, count - start)
        at = address + 4 * start
        yield at, protocol.read_request(at, n), protocol.read_answer_bytes(n)


def _check(status, address):
    if status != protocol.OK:
        name = protocol.STATUS_NAMES.get(status, f"{status:#04x}")
        raise LinkError(f"bridge access at {address:#x} failed: {name}", address=address, status=status)


def check_write_answer(answer, address):
    """Raise :class:`LinkError` for the first word of a write's answer that is not OK."""
    for i, status in enumerate(protocol.parse_write_answer(answer)):
        _check(status, address + 4 * i)


def read_answer_words(answer, address):
    """The words of a read's answer; :class:`LinkError` for the first that is not OK."""
    words = []
    for i, (status, word) in enumerate(protocol.parse_read_answer(answer)):
        _check(status, address + 4 * i)
        words.append(word)
    return words


def _short(answer, answer_bytes, address):
    return LinkError(f"bridge answered {len(answer)} of {answer_bytes} bytes at {address:#x}",
                     address=address)


class LinkError(RuntimeError):
    """A request through the bridge failed: ``address``, ``status`` (a protocol code or None)."""

    def __init__(self, message, *, address, status=None):
        super().__init__(message)
        self.address, self.status = address, status


class UartLink:
    """32-bit register and memory access through the bridge, over ``port``."""

    def __init__(self, port, *, baud=115200):
        self._port = port
        self._baud = baud

    @classmethod
    def open(cls, device, *, baud=115200, timeout=1.0):
        """A link over the serial port ``device`` (pyserial)."""
        import serial

        return cls(serial.Serial(device, baudrate=baud, timeout=timeout), baud=baud)

    port = property(lambda self: self._port)

    def _exchange(self, request, answer_bytes, address):
        self._port.write(request)
        answer = self._port.read(answer_bytes)
        if len(answer) != answer_bytes:
            self._resync()
            raise _short(answer, answer_bytes, address)
        return answer

    def resync(self):
        """Outlast the bridge's request timeout and drop what arrived meanwhile."""
        self._resync()

    def _resync(self):
        # Outlast the bridge's request timeout, then drop whatever arrived meanwhile.
        time.sleep(2 * protocol.TIMEOUT_BYTES * 10 / self._baud)
        reset = getattr(self._port, "reset_input_buffer", None)
        if reset is not None:
            reset()

    def write_words(self, address, words):
        """Write 32-bit ``words`` from ``address`` (a multiple of 4)."""
        for at, request, answer_bytes in write_plan(address, words):
            check_write_answer(self._exchange(request, answer_bytes, at), at)

    def read_words(self, address, count):
        """Read ``count`` 32-bit words from ``address`` (a multiple of 4)."""
        words = []
        for at, request, answer_bytes in read_plan(address, count):
            words += read_answer_words(self._exchange(request, answer_bytes, at), at)
        return words

    def write32(self, address, value):
        self.write_words(address, [value])

    def read32(self, address):
        return self.read_words(address, 1)[0]

    def write_mem(self, address, data):
        """Write bytes ``data`` at ``address``; both a multiple of 4 long and aligned."""
        data = bytes(data)
        if address % 4 or len(data) % 4:
            raise ValueError(f"address and length must be multiples of 4, not {address:#x}, {len(data)}")
        self.write_words(address, struct.unpack(f"<{len(data) // 4}I", data))

    def read_mem(self, address, length):
        """Read ``length`` bytes at ``address``; both multiples of 4."""
        if address % 4 or length % 4:
            raise ValueError(f"address and length must be multiples of 4, not {address:#x}, {length}")
        words = self.read_words(address, length // 4)
        return struct.pack(f"<{len(words)}I", *words)


class LinkTransport(Transport):
    """The driver's transport over the bridge's requests on an async byte ``port``.

    ``port``: ``async write(bytes)``, ``async read(n) -> bytes`` (fewer bytes:
    a timeout) and ``async resync()``. Register offsets go to ``regs_base +
    offset``, memory addresses to ``ram_base + address`` (``hw.board.top``'s
    map); memory moves as word bursts of up to ``protocol.MAX_WORDS`` words.
    ``idle`` sleeps ``poll_s`` seconds (``None``: nothing, for a simulated line).
    """

    def __init__(self, port, *, regs_base, ram_base, poll_s=None):
        self.port, self.regs_base, self.ram_base, self.poll_s = port, regs_base, ram_base, poll_s

    async def _exchange(self, request, answer_bytes, address):
        await self.port.write(request)
        answer = await self.port.read(answer_bytes)
        if len(answer) != answer_bytes:
            await self.port.resync()
            raise _short(answer, answer_bytes, address)
        return answer

    async def write_words(self, address, words):
        for at, request, answer_bytes in write_plan(address, words):
            check_write_answer(await self._exchange(request, answer_bytes, at), at)

    async def read_words(self, address, count):
        words = []
        for at, request, answer_bytes in read_plan(address, count):
            words += read_answer_words(await self._exchange(request, answer_bytes, at), at)
        return words

    # The driver computes addresses with numpy now and then: the protocol takes Python ints.
    async def read32(self, addr):
        return (await self.read_words(self.regs_base + int(addr), 1))[0]

    async def write32(self, addr, value):
        await self.write_words(self.regs_base + int(addr), [int(value) & 0xFFFF_FFFF])

    async def read_mem(self, addr, length):
        addr, length = int(addr), int(length)
        # The bridge moves whole words: a byte range is widened to them.
        start, end = addr - addr % 4, -(-(addr + length) // 4) * 4
        words = await self.read_words(self.ram_base + start, (end - start) // 4)
        return struct.pack(f"<{len(words)}I", *words)[addr - start:addr - start + length]

    async def write_mem(self, addr, data):
        addr, data = int(addr), bytes(data)
        start, end = addr - addr % 4, -(-(addr + len(data)) // 4) * 4
        if (start, end) != (addr, addr + len(data)):
            # Partial words at either end keep their other bytes: read, merge, write back.
            merged = bytearray(await self.read_mem(start, end - start))
            merged[addr - start:addr - start + len(data)] = data
            data = bytes(merged)
        await self.write_words(self.ram_base + start, struct.unpack(f"<{len(data) // 4}I", data))

    async def idle(self):
        if self.poll_s is not None:
            await asyncio.sleep(self.poll_s)


class _SerialPort:
    """A :class:`UartLink`'s blocking port as :class:`LinkTransport`'s async one."""

    def __init__(self, link):
        self.link = link

    async def write(self, data):
        self.link.port.write(data)

    async def read(self, n):
        return self.link.port.read(n)

    async def resync(self):
        self.link.resync()


class SerialTransport(LinkTransport):
    """:class:`LinkTransport` on the serial port of ``link`` (a :class:`UartLink`): the board.

    Usage: ``SpattenDriver(SerialTransport.open("/dev/ttyUSB0"), cfg, dram=(0, ram_bytes))``
    with ``asyncio.run`` around the driver's coroutines.
    """

    def __init__(self, link, *, poll_s=0.001):
        from hw.board.top import RAM_BASE, REGS_BASE

        self.link = link
        super().__init__(_SerialPort(link), regs_base=REGS_BASE, ram_base=RAM_BASE, poll_s=poll_s)

    @classmethod
    def open(cls, device, *, baud=None, timeout=1.0):
        """A transport over the serial port ``device`` at ``baud`` (default the board's)."""
        from .blocks import BOARD_BAUD

        return cls(UartLink.open(device, baud=baud or BOARD_BAUD, timeout=timeout))
