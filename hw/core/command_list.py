"""Walks the command list: one command read, checked, run and finished at a time; the STATUS."""

from types import SimpleNamespace

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.command import RECORD_BYTES, Error

from .command import ErrorCode, result_layout
from .command_reader import request_layout

__all__ = ["CommandList", "status_layout", "finished_layout"]

#: STATUS as hw.core.regmap describes it.
status_layout = data.StructLayout({"busy": 1, "done": 1, "error": 1, "_reserved": 5, "error_code": 8,
                                   "command": 16})
#: What the datapath reports when it has finished a command.
finished_layout = data.StructLayout({"error": ErrorCode})


class CommandList(wiring.Component):
    """The command-list walker of the core.

    ``start`` (ignored while busy) clears ``done`` and ``error``, sets
    ``busy`` and reads command 0 at ``cmd_ptr``; each command's result from
    the reader is shown on ``decoded``. A good command goes to ``command``,
    and the walker waits for the datapath's ``finished`` beat; then the
    next record (``cmd_ptr + i * RECORD_BYTES``) until ``cmd_count``
    commands have run or one has its ``last`` flag set: ``done``. A command
    the reader rejects, or a ``finished`` beat with an error, ends the list:
    ``error`` with the code and the command's index in ``status``. ``clear``
    clears ``done`` and ``error`` when not busy. A list of zero commands is
    done at once.

    Parameters
    ----------
    command : data.Layout
        The decoded command's layout (``CommandReader.command``).

    Members
    -------
    start, clear : In(1)
    cmd_ptr : In(64)
    cmd_count : In(16)
    request : Out(stream.Signature(request_layout))
    result : In(stream.Signature(result_layout(command)))
    command : Out(stream.Signature(command))
    finished : In(stream.Signature(finished_layout))
    status : Out(status_layout)
    decoded : Out(command)
        The last command the reader returned (zero when it was rejected).
    layer_done : Out(1)
        A pulse per command finished without error (counter snapshot).
    """

    def __init__(self, *, command):
        self._command = command
        super().__init__({
            "start": In(1), "clear": In(1), "cmd_ptr": In(64), "cmd_count": In(16),
            "request": Out(stream.Signature(request_layout)),
            "result": In(stream.Signature(result_layout(command))),
            "command": Out(stream.Signature(command)),
            "finished": In(stream.Signature(finished_layout)),
            "status": Out(status_layout),
            "decoded": Out(command),
            "layer_done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        # Fields as signals of their own: the reserved bits of STATUS stay constant zero.
        status = SimpleNamespace(**{name: Signal(status_layout[name].shape, name=f"status_{name}")
                                    for name in ("busy", "done", "error", "error_code", "command")})
        for name, field in vars(status).items():
            m.d.comb += self.status[name].eq(field)
        addr = Signal(64, reset_less=True)
        held = Signal(self._command, reset_less=True)
        m.d.comb += [self.request.p.addr.eq(addr), self.command.p.eq(held), self.decoded.eq(held)]
        with m.If(self.clear & ~status.busy):
            m.d.sync += [status.done.eq(0), status.error.eq(0), status.error_code.eq(0)]

        def fail(code):
            m.d.sync += [status.busy.eq(0), status.error.eq(1), status.error_code.eq(code)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [addr.eq(self.cmd_ptr), status.command.eq(0), status.done.eq(0),
                                 status.error.eq(0), status.error_code.eq(Error.NONE)]
                    with m.If(self.cmd_count == 0):
                        m.d.sync += status.done.eq(1)
                    with m.Else():
                        m.d.sync += status.busy.eq(1)
                        m.next = "REQUEST"
            with m.State("REQUEST"):
                m.d.comb += self.request.valid.eq(1)
                with m.If(self.request.ready):
                    m.next = "RESULT"
            with m.State("RESULT"):
                m.d.comb += self.result.ready.eq(1)
                with m.If(self.result.valid):
                    m.d.sync += held.eq(self.result.p.command)
                    with m.If(self.result.p.error != Error.NONE):
                        fail(self.result.p.error)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.command.valid.eq(1)
                with m.If(self.command.ready):
                    m.next = "FINISH"
            with m.State("FINISH"):
                m.d.comb += self.finished.ready.eq(1)
                with m.If(self.finished.valid):
                    with m.If(self.finished.p.error != Error.NONE):
                        fail(self.finished.p.error)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += self.layer_done.eq(1)
                        with m.If((status.command + 1 == self.cmd_count) | held.last):
                            m.d.sync += [status.busy.eq(0), status.done.eq(1)]
                            m.next = "IDLE"
                        with m.Else():
                            m.d.sync += [status.command.eq(status.command + 1), addr.eq(addr + RECORD_BYTES)]
                            m.next = "REQUEST"
        return m
