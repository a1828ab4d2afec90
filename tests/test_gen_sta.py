"""gen.sta: per-endpoint arrival times from an SDF (hand-written, nextpnr's format)."""

from gen.sta import endpoint_arrivals, parse_sdf, slow_groups, timing_summary

# q0 (clock to Q 500) -> net 300 -> lut (A->F 200) -> net 400 -> ff1.DI (setup 0)
#                     -> net 850 -> ff2.M
# An unclocked pin drives ff1.LSR through 5000 ps: not timed.
SDF = r"""(DELAYFILE
  (CELL
    (CELLTYPE "top")
    (INSTANCE )
    (DELAY (ABSOLUTE
      (INTERCONNECT \$gbuf/CLKO dut.a\[0\]_TRELLIS_FF_Q/CLK (0:0:0) (0:0:0))
      (INTERCONNECT dut.a\[0\]_TRELLIS_FF_Q/Q dut.x_LUT4_Z/A (250:280:300) (250:280:300))
      (INTERCONNECT dut.x_LUT4_Z/F dut.b\[3\]_TRELLIS_FF_Q/DI (350:380:400) (350:380:400))
      (INTERCONNECT dut.a\[0\]_TRELLIS_FF_Q/Q dut.c7_TRELLIS_FF_Q/M (800:820:850) (800:820:850))
      (INTERCONNECT pin\$tr_io/O dut.b\[3\]_TRELLIS_FF_Q/LSR (4000:4500:5000) (4000:4500:5000))
    ))
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE dut.a\[0\]_TRELLIS_FF_Q)
    (DELAY (ABSOLUTE (IOPATH CLK Q (430:477:500) (430:477:500))))
  )
  (CELL
    (CELLTYPE "TRELLIS_COMB")
    (INSTANCE dut.x_LUT4_Z)
    (DELAY (ABSOLUTE (IOPATH A F (180:190:200) (180:190:200))))
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE dut.b\[3\]_TRELLIS_FF_Q)
    (TIMINGCHECK
      (SETUPHOLD (posedge LSR) (posedge CLK) (271:347:424) (0:0:0))
      (SETUPHOLD (posedge DI) (posedge CLK) (0:0:0) (267:285:303)))
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE dut.c7_TRELLIS_FF_Q)
  )
)
"""


def test_parse_sdf():
    arcs, launch, setup = parse_sdf(SDF)
    assert launch == {("dut.a[0]_TRELLIS_FF_Q", "Q"): 500}
    assert (("dut.x_LUT4_Z", "F"), 200) in arcs[("dut.x_LUT4_Z", "A")]
    assert setup[("dut.b[3]_TRELLIS_FF_Q", "LSR")] == 424
    # The clock tree's arcs are not data paths.
    assert not any(port == "CLKO" for _, port in arcs)


def test_endpoint_arrivals_worst_first_and_untimed_pins():
    ends = endpoint_arrivals(SDF)
    assert [(ps, pin) for ps, pin, _ in ends] == [
        (500 + 300 + 200 + 400, ("dut.b[3]_TRELLIS_FF_Q", "DI")),
        (500 + 850, ("dut.c7_TRELLIS_FF_Q", "M")),
    ]
    assert ends[0][2] == "dut.a[0]_TRELLIS_FF_Q"


def test_slow_groups_and_summary():
    ends = endpoint_arrivals(SDF)
    groups = slow_groups(ends, 1300)
    assert groups == [{"group": "dut.b[]", "worst_ns": 1.4, "endpoints": 1, "from": "dut.a[]"},
                      {"group": "dut.c#", "worst_ns": 1.35, "endpoints": 1, "from": "dut.a[]"}]
    assert [g["group"] for g in slow_groups(ends, 1350)] == ["dut.b[]"]
    summary = timing_summary(SDF, 1e6 / 1300)
    assert (summary["endpoints"], summary["endpoints_over_target"], summary["worst_ns"]) == (2, 2, 1.4)
    assert timing_summary(SDF, 500)["endpoints_over_target"] == 0
