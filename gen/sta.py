"""Every endpoint's worst arrival time, from the SDF that nextpnr writes.

nextpnr reports one critical path per clock. Closing timing on a big block
needs the whole picture: how many flip-flops miss a target, and which groups
of them. :func:`endpoint_arrivals` runs a longest-path search over the
routed design's delays (``nextpnr --sdf``: ``INTERCONNECT`` for every net
arc, ``IOPATH`` for every cell arc, ``SETUPHOLD`` checks at the endpoints),
from flip-flop outputs (clock to Q) to checked inputs; paths from unclocked
sources (the harness's pins) are not timed, as in nextpnr.
:func:`slow_groups` folds the endpoints that miss a period into groups named
after their register (indices and digits folded: ``dut.w2_dataL#[]``). On
the designs checked, the worst arrival equals nextpnr's critical path.
"""

import re
from collections import defaultdict

__all__ = ["parse_sdf", "endpoint_arrivals", "slow_groups", "timing_summary"]

_UNTIMED = -10 ** 12
_INTERCONNECT = re.compile(r"\(INTERCONNECT (\S+) (\S+) \(\d+:\d+:(\d+)\)")
_IOPATH = re.compile(r"\(IOPATH (\S+) (\S+) \(\d+:\d+:(\d+)\)")
_SETUP = re.compile(r"\(SETUPHOLD \((?:posedge|negedge) (\S+)\) \(posedge \S+\) \(\d+:\d+:(\d+)\)")
_CLOCKS = ("CLK", "WCK")


def _pin(text):
    inst, port = text.replace("\\", "").rsplit("/", 1)
    return inst, port


def parse_sdf(text):
    """``(arcs, launch, setup)`` of an SDF text (delays in ps, worst corner).

    ``arcs[(inst, port)]`` lists ``((inst, port), delay)``; ``launch`` maps a
    clocked output to its clock-to-output delay; ``setup`` a checked input to
    its setup time.
    """
    arcs, launch, setup = defaultdict(list), {}, {}
    for block in text.split("(CELL")[1:]:
        found = re.search(r"\(INSTANCE ?([^)]*)\)", block)
        inst = found.group(1).strip().replace("\\", "") if found else ""
        for src, dst, delay in _INTERCONNECT.findall(block):
            if src.rsplit("/", 1)[-1] in ("CLKO",):       # the global clock tree
                continue
            arcs[_pin(src)].append((_pin(dst), int(delay)))
        for a, b, delay in _IOPATH.findall(block):
            if a in _CLOCKS:
                launch[(inst, b)] = int(delay)
            else:
                arcs[(inst, a)].append(((inst, b), int(delay)))
        for port, delay in _SETUP.findall(block):
            setup[(inst, port)] = max(setup.get((inst, port), 0), int(delay))
    return arcs, launch, setup


def endpoint_arrivals(text):
    """``[(ps, (inst, port), start)]`` for every timed endpoint, slowest first.

    ``ps`` is the arrival plus the setup time; ``start`` the launching cell.
    """
    arcs, launch, setup = parse_sdf(text)
    indegree = defaultdict(int)
    nodes = set(arcs) | set(launch)
    for sinks in arcs.values():
        for sink, _ in sinks:
            indegree[sink] += 1
            nodes.add(sink)
    arrival, start = {}, {}
    ready = [n for n in nodes if indegree[n] == 0]
    for n in ready:
        arrival[n] = launch.get(n, _UNTIMED)
        start[n] = n[0]
    while ready:
        node = ready.pop()
        for sink, delay in arcs.get(node, ()):
            t = arrival[node] + delay
            if t > arrival.get(sink, _UNTIMED - 1):
                arrival[sink], start[sink] = t, start[node]
            indegree[sink] -= 1
            if indegree[sink] == 0:
                ready.append(sink)
    ends = [(arrival[p] + s, p, start[p]) for p, s in setup.items() if arrival.get(p, _UNTIMED) >= 0]
    # Flip-flop data inputs whose setup time is zero carry no check in the SDF.
    ends += [(arrival[n], n, start[n]) for n in nodes
             if n[1] in ("DI", "M") and n not in setup and arrival.get(n, _UNTIMED) >= 0]
    return sorted(ends, reverse=True)


def _group(inst):
    name = re.sub(r"_TRELLIS_FF_Q.*$", "", inst)
    name = re.sub(r"(?<=[^.])\$.*$", "", name)      # keep a leading $signal (unnamed registers)
    name = re.sub(r"\[\d+\]", "[]", name)
    return re.sub(r"\d+", "#", name)


def slow_groups(ends, period_ps, top=12):
    """The endpoint groups that miss ``period_ps``, slowest first: list of dicts."""
    groups = defaultdict(list)
    for ps, (inst, _), start in ends:
        if ps > period_ps:
            groups[_group(inst)].append((ps, start))
    rows = sorted(groups.items(), key=lambda item: -item[1][0][0])[:top]
    return [{"group": name, "worst_ns": round(hits[0][0] / 1000, 2), "endpoints": len(hits),
             "from": _group(hits[0][1])} for name, hits in rows]


def timing_summary(text, target_mhz, top=12):
    """Counts of endpoints over the period of ``target_mhz`` and their slowest groups."""
    ends = endpoint_arrivals(text)
    period = 1e6 / target_mhz
    return {
        "target_mhz": target_mhz,
        "endpoints": len(ends),
        "endpoints_over_target": sum(1 for ps, _, _ in ends if ps > period),
        "worst_ns": round(ends[0][0] / 1000, 3) if ends else None,
        "slow_groups": slow_groups(ends, period, top),
    }
