"""The AXI4 read channels (AR and R) of a master, as one signature with flat member names."""

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int

__all__ = ["AxiReadSignature", "BURST_INCR", "RESP_SLVERR", "RESP_DECERR"]

BURST_INCR = 1
RESP_SLVERR = 2
RESP_DECERR = 3


class AxiReadSignature(wiring.Signature):
    """AR and R channels of an AXI4 read master (``Out`` = driven by the master).

    The members are flat (``arvalid``, ``araddr``, ..., ``rdata``): a port
    ``m_axi`` of this signature becomes the Verilog ports ``m_axi__arvalid``
    etc., which cocotbext-axi binds with ``bus_separator="__"`` (nested
    channel signatures would give ``m_axi__ar__valid``, which it does not see).

    Parameters
    ----------
    addr_bits : int
        ``araddr`` width, 12..64.
    data_bits : int
        ``rdata`` width, a multiple of 8 in 8..1024.
    id_bits : int
        ``arid`` / ``rid`` width, 1..16.
    """

    def __init__(self, *, addr_bits, data_bits, id_bits):
        self.addr_bits = check_int("addr_bits", addr_bits, 12, 64)
        self.data_bits = check_int("data_bits", data_bits, 8, 1024)
        if self.data_bits % 8:
            raise ValueError(f"data_bits must be a multiple of 8, not {data_bits!r}")
        self.id_bits = check_int("id_bits", id_bits, 1, 16)
        super().__init__({
            "arvalid": Out(1), "arready": In(1), "arid": Out(self.id_bits),
            "araddr": Out(self.addr_bits), "arlen": Out(8), "arsize": Out(3), "arburst": Out(2),
            "arlock": Out(1), "arcache": Out(4), "arprot": Out(3),
            "rvalid": In(1), "rready": Out(1), "rid": In(self.id_bits), "rdata": In(self.data_bits),
            "rresp": In(2), "rlast": In(1),
        })

    def __eq__(self, other):
        return (isinstance(other, AxiReadSignature) and
                (self.addr_bits, self.data_bits, self.id_bits) ==
                (other.addr_bits, other.data_bits, other.id_bits))

    def __hash__(self):
        return hash((AxiReadSignature, self.addr_bits, self.data_bits, self.id_bits))

    def __repr__(self):
        return (f"AxiReadSignature(addr_bits={self.addr_bits}, data_bits={self.data_bits}, "
                f"id_bits={self.id_bits})")
