"""Host side of the board's UART bridge (:mod:`hw.board.protocol`): 32-bit reads and writes.

:class:`UartLink` works on any byte port with ``write(bytes)`` and
``read(n) -> bytes`` (a ``serial.Serial`` opened by :meth:`UartLink.open`,
or a simulated line); it splits long transfers into requests of at most
``protocol.MAX_WORDS`` words and raises :class:`LinkError` on any status
but OK, naming the address and the status. A short answer (the port's read
timing out) also raises: after it the link waits out the bridge's request
timeout and flushes, so the next request starts clean.
"""

import struct
import time

from hw.board import protocol

__all__ = ["UartLink", "LinkError"]


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

    def _exchange(self, request, answer_bytes, address):
        self._port.write(request)
        answer = self._port.read(answer_bytes)
        if len(answer) != answer_bytes:
            self._resync()
            raise LinkError(f"bridge answered {len(answer)} of {answer_bytes} bytes at {address:#x}",
                            address=address)
        return answer

    def _resync(self):
        # Outlast the bridge's request timeout, then drop whatever arrived meanwhile.
        time.sleep(2 * protocol.TIMEOUT_BYTES * 10 / self._baud)
        reset = getattr(self._port, "reset_input_buffer", None)
        if reset is not None:
            reset()

    @staticmethod
    def _check(status, address):
        if status != protocol.OK:
            name = protocol.STATUS_NAMES.get(status, f"{status:#04x}")
            raise LinkError(f"bridge access at {address:#x} failed: {name}", address=address, status=status)

    def write_words(self, address, words):
        """Write 32-bit ``words`` from ``address`` (a multiple of 4)."""
        words = list(words)
        for start in range(0, len(words), protocol.MAX_WORDS):
            chunk = words[start:start + protocol.MAX_WORDS]
            at = address + 4 * start
            answer = self._exchange(protocol.write_request(at, chunk),
                                    protocol.write_answer_bytes(len(chunk)), at)
            for i, status in enumerate(protocol.parse_write_answer(answer)):
                self._check(status, at + 4 * i)

    def read_words(self, address, count):
        """Read ``count`` 32-bit words from ``address`` (a multiple of 4)."""
        words = []
        for start in range(0, count, protocol.MAX_WORDS):
            n = min(protocol.MAX_WORDS, count - start)
            at = address + 4 * start
            answer = self._exchange(protocol.read_request(at, n), protocol.read_answer_bytes(n), at)
            for i, (status, word) in enumerate(protocol.parse_read_answer(answer)):
                self._check(status, at + 4 * i)
                words.append(word)
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
