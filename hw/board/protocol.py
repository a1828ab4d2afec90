"""The byte protocol of the UART bridge (:class:`hw.board.bridge.UartAxiLiteBridge`), for both ends.

Pure Python: the hardware takes its constants from here and the host link
(:mod:`gen.uart_link`) its encoders and decoders, so the two cannot drift.

A request is ``op`` (1 byte), ``address`` (4 bytes, little-endian, a
multiple of 4), ``count - 1`` (1 byte: 1..256 words at consecutive
addresses) and, for a write, ``count`` little-endian 32-bit words. The
bridge answers word by word: a write with one status byte per word, a read
with a status byte and the word (zero unless the status is :data:`OK`) per
word. Status: :data:`OK`, :data:`SLVERR` and :data:`DECERR` (the AXI4-Lite
response of that word), :data:`MISALIGNED` (the address is not a multiple
of 4: no bus access for the whole request). An unknown ``op`` byte is
answered by one :data:`BAD_OP` byte. A request whose next byte does not
come within :data:`TIMEOUT_BYTES` byte times is dropped without an answer,
so a host that lost its place waits that long and starts afresh.
"""

import struct

__all__ = ["WRITE", "READ", "OK", "SLVERR", "DECERR", "MISALIGNED", "BAD_OP", "MAX_WORDS",
           "TIMEOUT_BYTES", "STATUS_NAMES", "write_request", "read_request", "write_answer_bytes",
           "read_answer_bytes", "parse_write_answer", "parse_read_answer"]

WRITE = 0x01
READ = 0x02
OK = 0x00
SLVERR = 0x02
DECERR = 0x03
MISALIGNED = 0x04
BAD_OP = 0xEE
MAX_WORDS = 256
TIMEOUT_BYTES = 64
STATUS_NAMES = {OK: "OK", SLVERR: "SLVERR", DECERR: "DECERR", MISALIGNED: "MISALIGNED", BAD_OP: "BAD_OP"}


def _header(op, address, count):
    if isinstance(address, bool) or not isinstance(address, int) or not 0 <= address < 1 << 32:
        raise ValueError(f"address must be an integer in 0..2**32-1, not {address!r}")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_WORDS:
        raise ValueError(f"count must be an integer in 1..{MAX_WORDS}, not {count!r}")
    return struct.pack("<BIB", op, address, count - 1)


def write_request(address, words):
    """Bytes of a write of ``words`` (32-bit integers) from ``address``."""
    words = list(words)
    if any(isinstance(w, bool) or not isinstance(w, int) or not 0 <= w < 1 << 32 for w in words):
        raise ValueError("words must be integers in 0..2**32-1")
    return _header(WRITE, address, len(words)) + struct.pack(f"<{len(words)}I", *words)


def read_request(address, count):
    """Bytes of a read of ``count`` words from ``address``."""
    return _header(READ, address, count)


def write_answer_bytes(count):
    """Length of the answer to a write of ``count`` words."""
    return count


def read_answer_bytes(count):
    """Length of the answer to a read of ``count`` words."""
    return 5 * count


def parse_write_answer(data):
    """Statuses of a write's answer, one per word."""
    return list(bytes(data))


def parse_read_answer(data):
    """``[(status, word)]`` of a read's answer."""
    data = bytes(data)
    if len(data) % 5:
        raise ValueError(f"a read answer is 5 bytes a word, not {len(data)} bytes")
    return [(data[i], struct.unpack_from("<I", data, i + 1)[0]) for i in range(0, len(data), 5)]
