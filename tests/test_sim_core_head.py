# amaranth: UnusedElaboratable=no
"""cocotb tests of the head datapath (sim/core_head.py): tiny on Icarus and Verilator, ulx3s on Verilator.

Each run checks random jobs (summarisation causal or not, generation,
re-fetch of no, some or every row, local value pruning), edge jobs and every
refusal between good jobs, bit for bit against ``golden.head.head_job``.
"""

import pytest

from gen.config import preset
from sim import runner
from sim.core_head import CHECKED_FILE

# (simulator, preset, random jobs, cocotb tests or None for all). Icarus runs the edge and random jobs
# only: its time goes into simulation, Verilator's into the build, so the long tests run there.
# At ulx3s the head datapath runs inside the whole core (tests/test_sim_core.py, Verilator): its
# build is the longest of make test, and one of them is enough there.
RUNS = [("icarus", "tiny", 4, ["edge_jobs", "random_stream/pauses=0", "random_stream/pauses=1"]),
        ("verilator", "tiny", 40, None)]
# edge_jobs, random_stream (two pause settings), bad_jobs, and the bench-only `measure` (skipped).
COCOTB_TESTS = 5


@pytest.mark.parametrize("sim, config, jobs, tests", RUNS,
                         ids=[f"{sim}-{config}" for sim, config, *_ in RUNS])
def test_core_head(sim, config, jobs, tests):
    from hw.core import HeadDatapath

    result = runner.run(HeadDatapath(config=preset(config)), test_module="sim.core_head", sim=sim,
                        parameters={"preset": config, "jobs": jobs}, testcase=tests)
    lines = (result["build_dir"] / CHECKED_FILE).read_text().splitlines()
    jobs_checked = sum(int(line.split()[1]) for line in lines)
    rows_checked = sum(int(line.split()[2]) for line in lines)
    print(f"{sim} {config}: {jobs_checked} jobs, {rows_checked} rows checked")
    # Every test run but the skipped `measure` wrote its line (random_stream two).
    if tests is None:
        assert result["tests"] == COCOTB_TESTS and len(lines) == COCOTB_TESTS - 1
    else:
        assert [line.split()[0] for line in lines] == [test.split("/")[0] for test in tests]
    assert jobs_checked >= jobs
