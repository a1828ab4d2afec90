"""The command reader: a command record from DRAM in one AXI4 burst, checked, as a command stream."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.command import RECORD_BYTES, Error, survivor_bytes

from ..fetcher.axi import BURST_INCR, AxiReadSignature
from ..params import check_int, check_pow2
from .command import ErrorCode, record_layout
from .command_check import CommandCheck

__all__ = ["RecordFetch", "CommandReader", "command_reader_from_config", "request_layout"]

#: A request: the byte address of a command record.
request_layout = data.StructLayout({"addr": 64})


class RecordFetch(wiring.Component):
    """Reads one command record (``RECORD_BYTES`` at ``addr``, ``RECORD_WORDS`` words) as one INCR burst.

    A request whose address is not a multiple of ``RECORD_BYTES`` or lies
    beyond the address space reads nothing and ends with ``ALIGN_CMD``; an
    R beat answered SLVERR or DECERR ends the record with ``CMD_READ`` (the
    burst is still read to its end, so the port is left clean). The words
    of a failed record are zero. R beat ``i`` is written into record bits
    ``i * data_bits`` on (a beat counter enables each slot), so the words no
    rule reads (the reserved ones) drive nothing and synthesis drops their
    flip-flops.

    Parameters
    ----------
    data_bits, addr_bits, id_bits : int
        The AXI4 read port (``hw.fetcher.axi.AxiReadSignature``).

    Members
    -------
    request : In(stream.Signature({addr: 64}))
    record : Out(stream.Signature({words: record_layout, error: ErrorCode}))
    m_axi : Out(AxiReadSignature)
    beat : Out(1)
        High for each R beat taken (``data_bits // 8`` bytes read).
    """

    def __init__(self, *, data_bits, addr_bits, id_bits):
        self._data_bits = check_pow2("data_bits", data_bits, 32, 1024)
        self._addr_bits = check_int("addr_bits", addr_bits, 12, 64)
        self._id_bits = check_int("id_bits", id_bits, 1, 16)
        super().__init__({
            "request": In(stream.Signature(request_layout)),
            "record": Out(stream.Signature(data.StructLayout({"words": record_layout, "error": ErrorCode}))),
            "m_axi": Out(AxiReadSignature(addr_bits=self._addr_bits, data_bits=self._data_bits,
                                          id_bits=self._id_bits)),
            "beat": Out(1),
        })

    @property
    def beats(self):
        """R beats of one record."""
        return RECORD_BYTES * 8 // self._data_bits

    def elaborate(self, platform):
        m = Module()
        axi = self.m_axi
        addr = Signal(64, reset_less=True)
        words = Signal(record_layout.size, reset_less=True)
        beat = Signal(range(self.beats), reset_less=True)
        error = Signal(ErrorCode)
        m.d.comb += [axi.araddr.eq(addr), axi.arlen.eq(self.beats - 1),
                     axi.arsize.eq((self._data_bits // 8 - 1).bit_length()), axi.arburst.eq(BURST_INCR),
                     axi.arid.eq(0),
                     self.record.p.words.eq(words), self.record.p.error.eq(error)]
        misaligned = (self.request.p.addr[:(RECORD_BYTES - 1).bit_length()] != 0)
        if self._addr_bits < 64:
            misaligned |= self.request.p.addr[self._addr_bits:] != 0
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.request.ready.eq(1)
                with m.If(self.request.valid):
                    m.d.sync += [addr.eq(self.request.p.addr), beat.eq(0), error.eq(Error.NONE)]
                    with m.If(misaligned):
                        m.d.sync += error.eq(Error.ALIGN_CMD)
                        m.next = "OFFER"
                    with m.Else():
                        m.next = "ADDRESS"
            with m.State("ADDRESS"):
                m.d.comb += axi.arvalid.eq(1)
                with m.If(axi.arready):
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [axi.rready.eq(1), self.beat.eq(axi.rvalid)]
                with m.If(axi.rvalid):
                    m.d.sync += [words.word_select(beat, self._data_bits).eq(axi.rdata), beat.eq(beat + 1)]
                    with m.If(axi.rresp[1]):
                        m.d.sync += error.eq(Error.CMD_READ)
                    with m.If(axi.rlast):
                        m.next = "OFFER"
            with m.State("OFFER"):
                m.d.comb += self.record.valid.eq(1)
                with m.If(error != Error.NONE):
                    m.d.comb += self.record.p.words.eq(0)
                with m.If(self.record.ready):
                    m.next = "IDLE"
        return m


class CommandReader(wiring.Component):
    """Reads layer commands from DRAM and checks them: :class:`RecordFetch` into :class:`CommandCheck`.

    Per request (a record's byte address) one ``result`` beat: the decoded
    command and ``Error.NONE``, or a zero command and the error naming the
    first failing rule (``golden.command.check_command``, then the fetch's
    own ``ALIGN_CMD`` / ``CMD_READ``). A bad command produces its error and
    nothing else; the next request runs as usual.

    Parameters
    ----------
    max_context, head_dim : int
        Limits of the checks (the core's configuration).
    data_bits, addr_bits, id_bits : int
        The AXI4 read port.
    survivor_bytes : int
        Bytes of the survivor record (``golden.command.survivor_bytes(cfg)``).

    Members
    -------
    request : In(stream.Signature({addr: 64}))
    result : Out(stream.Signature(result_layout(command)))
    m_axi : Out(AxiReadSignature)
    beat : Out(1)
        One R beat taken (for the ``BYTES_READ_CMD`` counter).

    Latency: the record's burst, then :attr:`check_latency` cycles.
    Throughput: one command at a time (a few per layer: never the bottleneck).
    """

    def __init__(self, *, max_context, head_dim, data_bits, addr_bits, id_bits, survivor_bytes):
        self._fetch = RecordFetch(data_bits=data_bits, addr_bits=addr_bits, id_bits=id_bits)
        self._check = CommandCheck(max_context=max_context, head_dim=head_dim, data_bytes=data_bits // 8,
                                   addr_bits=addr_bits, survivor_bytes=survivor_bytes)
        super().__init__({
            "request": In(stream.Signature(request_layout)),
            "result": Out(self._check.result.signature),
            "m_axi": Out(self._fetch.m_axi.signature),
            "beat": Out(1),
        })

    @property
    def command(self):
        """Layout of the decoded command."""
        return self._check.command

    @property
    def check_latency(self):
        return self._check.latency

    @property
    def beats(self):
        return self._fetch.beats

    def elaborate(self, platform):
        m = Module()
        m.submodules.fetch = fetch = self._fetch
        m.submodules.check = check = self._check
        wiring.connect(m, wiring.flipped(self.request), fetch.request)
        wiring.connect(m, fetch.record, check.record)
        wiring.connect(m, check.result, wiring.flipped(self.result))
        wiring.connect(m, fetch.m_axi, wiring.flipped(self.m_axi))
        m.d.comb += self.beat.eq(fetch.beat)
        return m


def command_reader_from_config(cfg, *, id_bits=None):
    """The command reader of a ``SpattenConfig`` (``id_bits`` defaults to ``cfg.axi_id_bits``)."""
    return CommandReader(max_context=cfg.max_context, head_dim=cfg.head_dim, data_bits=cfg.axi_data_bits,
                         addr_bits=cfg.axi_addr_bits, id_bits=cfg.axi_id_bits if id_bits is None else id_bits,
                         survivor_bytes=survivor_bytes(cfg))
