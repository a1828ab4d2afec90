"""Pipeline depths of the top-k engine: the one definition of its timing.

The stage components of ``hw/topk`` build their pipelines from these
numbers and expose them as latency properties; :mod:`golden.topk_cycles`
sums them into its cycle model. Pure Python (no hardware import), so that
golden/ stays numpy only. Each depth counts registers (cycles), and the
sums below are the latencies the cycle model uses.
"""

__all__ = [
    "LUT_RAM_ROWS", "LUT_RAM_READ", "BLOCK_RAM_LANDING", "lane_ram_latency",
    "RANK_SELECT_LATENCY", "RANK_TARGET_DELAY",
    "ZERO_ELIMINATOR_EARLY_LATENCY", "zero_eliminator_latency", "CREDIT_FIFO_LATENCY",
    "BEAT_TAKE", "BEAT_ISSUE", "BANK_READ", "SAMPLE_REGISTER", "SAMPLE_LEAD", "PIVOT_WAIT",
    "COMPARE", "PARTS",
    "DECISION", "ROUND_LATENCY", "WRITE_REGISTERS", "rotate_layers", "drain_cycles", "round_gap_of",
    "FINAL_START", "FINAL_READ", "FINAL_COMPARE", "EQUAL_COUNTS", "FINAL_KEEP", "FINAL_LATENCY",
    "START_DELAY", "DISCARD_DELAY", "EMPTY_DELAY", "FINAL_IDLE_GAP", "EMPTY_IDLE_GAP",
]

# --- the primitives the engine is made of (hw/) ---------------------------------------
# Deepest buffer left to LUT RAM; deeper ones are block RAM (hw.lane_ram).
LUT_RAM_ROWS = 64
# hw.lane_ram: a read lands in a register; with block RAM one more, beside the RAM.
LUT_RAM_READ = 1
BLOCK_RAM_LANDING = 1
# hw.rank_select.RankSelect: sample in to ranked values out, and when it reads its targets.
RANK_SELECT_LATENCY = 8
RANK_TARGET_DELAY = 3
# hw.zero_eliminator.ZeroEliminator: to its early count; then the shifter (and its split register).
ZERO_ELIMINATOR_EARLY_LATENCY = 3
# hw.credit_fifo.CreditFifo: write to read valid.
CREDIT_FIFO_LATENCY = 2


def lane_ram_latency(block):
    """Read latency of :class:`hw.lane_ram.LaneRam`: 1, or 2 with block RAM."""
    return LUT_RAM_READ + (BLOCK_RAM_LANDING if block else 0)


def zero_eliminator_latency(split):
    """Cycles from a zero eliminator's input to its packed output (one more with ``split``)."""
    return ZERO_ELIMINATOR_EARLY_LATENCY + 1 + bool(split)


# --- a quick-select round (hw.topk.round_reader, round_compare, round_counts) -----------
BEAT_TAKE = 1         # round 1 issues its beats from the registered input handshake
BEAT_ISSUE = 1        # a beat's issue register (its flags, lanes and source selects)
BANK_READ = 1         # the banks' read data, registered beside the source selects
SAMPLE_REGISTER = 1   # the sample after its source multiplexer, into the rank select
SAMPLE_LEAD = 1       # the round's first beat issues a cycle after its sample is taken
# The beats' delay line to the pivots: the sample's path less the beat's own
# read register and its lag behind the sample.
PIVOT_WAIT = SAMPLE_REGISTER + RANK_SELECT_LATENCY - BANK_READ - SAMPLE_LEAD
COMPARE = 1           # each lane against both pivots, the classes registered
PARTS = 1             # the three parts' keep masks, registered
DECISION = 1          # the register that says the counts are final
# From a round's last beat taken to its decision, with LUT RAM (block RAM:
# one more, the landing register in the paths of both the sample and the
# beats). Round 1 takes its beats from the input; a later round's beats issue
# from the cycle after its sample read (round_gap counts up to that read).
ROUND_LATENCY = (BEAT_TAKE + BEAT_ISSUE + BANK_READ + PIVOT_WAIT + COMPARE + PARTS
                 + ZERO_ELIMINATOR_EARLY_LATENCY + DECISION)
# The part writer's stages from a beat's early count to its rotation: the zero
# eliminator's shifter (then one register per rotation layer, the last one
# the rotated lane's before the memory).
WRITE_REGISTERS = zero_eliminator_latency(True) - ZERO_ELIMINATOR_EARLY_LATENCY


def rotate_layers(p):
    """Multiplexer layers of the rotation into ``p`` banks (4:1 layers, registers between)."""
    return -(-(p.bit_length() - 1) // 2)


def drain_cycles(p):
    """Cycles the control waits after HOLD for the rotation's inner registers (at least one:
    the sample rows are registered a cycle before they are loaded into the read rows)."""
    return max(1, rotate_layers(p))


def round_gap_of(p):
    """Cycles from a decision to the next round's sample read, ``p`` lanes: a cycle after the
    decided part's last row is written (its early count comes a cycle before the decision;
    reading a row in the cycle of its write would need a bypass: long routes)."""
    return WRITE_REGISTERS + drain_cycles(p)


# --- the final pass (hw.topk.final_pass, credited_output) ------------------------------
FINAL_START = 1       # HOLD: the pass's counters start the cycle after the decision's next
FINAL_READ = 1        # the input buffer's read
FINAL_COMPARE = 1     # each lane against the k-th value
EQUAL_COUNTS = 3      # the equal elements' prefix counts (two stages) and the quota's compare
FINAL_KEEP = 1        # the kept lanes, registered before the packing zero eliminator
# From the last decision's next cycle plus a row's index to that row's result
# beat, with LUT RAM (block RAM: one more, the read's landing register).
FINAL_LATENCY = (FINAL_START + FINAL_READ + FINAL_COMPARE + EQUAL_COUNTS + FINAL_KEEP
                 + zero_eliminator_latency(True) + CREDIT_FIFO_LATENCY)

# --- the request control (hw.topk.control) ----------------------------------------------
# Cycles from accepting a request to its first score beat (ACCEPT, PREP, then
# IN), to the first score beat dropped by a bad request or k = 0 (ACCEPT,
# then DISCARD), to the empty answer of n = 0 (ACCEPT, then EMPTY), and from a
# request's last result beat to the first cycle the engine accepts the next
# request (after a final pass: the pass ends from a register, then IDLE; after
# an empty answer: IDLE).
START_DELAY = 3
DISCARD_DELAY = 2
EMPTY_DELAY = 2
FINAL_IDLE_GAP = 2
EMPTY_IDLE_GAP = 1
