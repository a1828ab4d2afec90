"""golden.core.CoreModel through gen.driver on GoldenTransport: the core equals spatten_model bit for bit."""

import asyncio
import dataclasses

import numpy as np
import pytest

from gen.config import preset
from gen.driver import CommandError, SpattenDriver
from gen.golden_transport import GoldenTransport
from golden.command import RECORD_BYTES, Error, command_bytes, out_row_bytes, survivor_rows
from golden.core import COUNTERS, CoreModel
from golden.models import MiniLM, exact_attention
from golden.spatten import spatten_model
from hw.core.regmap import COUNTERS as REGMAP_COUNTERS

SEED = 43
TINY = preset("tiny")
# Every pruning mechanism on: token and head schedules, local value pruning, LSB re-fetch,
# protected sinks and recent tokens; K per channel with centres and V per channel (host side).
PRUNE = dataclasses.replace(TINY, name="prune", token_prune_start=0.0, token_keep_final=0.4,
                            head_prune_start=0.0, head_keep_final=0.5, value_keep=0.5,
                            requant_threshold=0.4, token_protect_sinks=2, token_protect_recent=3)
CHANNEL = dataclasses.replace(PRUNE, name="channel", k_scale="channel", k_zero_point=True,
                              v_scale="channel")
MEM = 1 << 21


def run(coro):
    return asyncio.run(coro)


def qkv(n_layers, h, length, d, seed):
    rng = np.random.default_rng(seed)
    # A few heavy keys per head (peaked rows) beside flat ones, so that rows both re-fetch and not.
    bias = rng.normal(size=(n_layers, h, length, 1)) * (rng.random((n_layers, h, length, 1)) < 0.2) * 3
    q = [rng.normal(size=(h, length, d)) * 1.5 for _ in range(n_layers)]
    k = [rng.normal(size=(h, length, d)) * 1.5 + bias[i] for i in range(n_layers)]
    v = [rng.normal(size=(h, length, d)) for _ in range(n_layers)]
    return q, k, v


def core(cfg):
    transport = GoldenTransport(cfg, MEM)
    return transport, SpattenDriver(transport, cfg, dram=(0x1_0000, 1 << 20))


def check_equal(cfg, q, k, v, mode, causal, prompt_len=None, label=""):
    """run_model on golden equals spatten_model: outputs, survivors, refetch, counters."""
    transport, drv = core(cfg)
    got = run(drv.run_model(q, k, v, mode, causal, prompt_len))
    want = spatten_model(q, k, v, cfg, mode, causal=causal, prompt_len=prompt_len)
    n_layers = len(q)
    for layer in range(n_layers):
        assert np.array_equal(got["outputs"][layer], want["outputs"][layer]), f"{label} layer {layer}"
    assert np.array_equal(got["token_alive"], want["token_alive"]), label
    assert np.array_equal(got["head_alive"], want["head_alive"]), label
    results = transport.model.results
    assert len(results) == n_layers * len(got["steps"])
    for s, (lo, hi) in enumerate(got["steps"]):
        for layer in range(n_layers):
            res = results[s * n_layers + layer]
            assert res["command"].layer == layer and res["error"] is None
            assert np.array_equal(res["refetch"], want["refetch"][layer][:, lo:hi]), f"{label} {s} {layer}"
            assert got["refetch_counts"][layer, s] == want["refetch"][layer][:, lo:hi].sum()
    c, w = got["counters"], want["counters"]
    d = np.shape(q[0])[2]
    if d == cfg.head_dim:       # the core reads cfg.head_dim elements per row, spatten d
        for name in ("k_msb", "k_lsb", "v_msb", "v_lsb"):
            assert c[f"BYTES_READ_{name.upper()}"] == w[f"dram_bytes_{name}"], label
    assert c["MACS"] == w["macs_qk"] + w["macs_pv"], label
    assert c["ROWS_REFETCHED"] == w["rows_refetched"], label
    assert c["COMMANDS_DONE"] == len(results)
    assert c["BYTES_READ_CMD"] == RECORD_BYTES * len(results)
    assert c["CYCLES_BUSY"] == c["CYCLES_STALLED"] == 0
    assert transport.starts == len(results)
    return got, want, results


@pytest.mark.parametrize("cfg", [TINY, PRUNE, CHANNEL], ids=lambda c: c.name)
@pytest.mark.parametrize("mode, causal", [("summarize", False), ("summarize", True), ("generate", True)])
def test_run_model_equals_spatten_model(cfg, mode, causal):
    q, k, v = qkv(4, 3, 24, cfg.head_dim, SEED)
    got, want, results = check_equal(cfg, q, k, v, mode, causal, prompt_len=16,
                                     label=f"{cfg.name} {mode} causal={causal} seed={SEED}")
    if cfg is not TINY:
        # The mechanisms did act (else the equality above proves little).
        assert not got["token_alive"][-1].all() and not got["head_alive"][-1].all()
        assert got["counters"]["TOKENS_PRUNED"] > 0 and got["counters"]["HEADS_PRUNED"] > 0
        assert sum(r["refetch"].sum() for r in results) > 0
        assert any((r["values_kept"] > 0).any() and (r["values_kept"] < r["command"].keys).any()
                   for r in results)


def test_head_dim_below_the_cores_is_zero_padded():
    q, k, v = qkv(3, 2, 20, 5, SEED + 1)
    check_equal(PRUNE, q, k, v, "generate", True, prompt_len=12, label="d=5")


@pytest.fixture(scope="module")
def minilm_qkv():
    """Q/K/V of a real sentence through all-MiniLM-L6-v2 (6 layers, 12 heads of 32, 16 tokens)."""
    model = MiniLM()
    layers = []

    def hook(layer, q, k, v, causal=False):
        layers.append((q, k, v))
        return exact_attention(q, k, v, causal)

    model.hidden_states(model.tokenize("The quick brown fox jumps over the lazy dog near the river bank."),
                        attention=hook)
    return [list(x) for x in zip(*layers, strict=True)]


REAL = dataclasses.replace(PRUNE, name="real", head_dim=32, qk_multipliers=32, pv_multipliers=32)


@pytest.mark.parametrize("mode, causal", [("summarize", False), ("generate", True)])
def test_real_qkv_equals_spatten_model(minilm_qkv, mode, causal):
    # MiniLM is an encoder: its Q/K/V run causally here as a stand-in for a decoder's.
    q, k, v = minilm_qkv
    got, _, _ = check_equal(REAL, q, k, v, mode, causal, prompt_len=10, label=f"MiniLM {mode}")
    assert not got["token_alive"][-1].all() and not got["head_alive"][-1].all()


def test_counters_are_the_register_maps():
    assert COUNTERS == tuple(name for name, _ in REGMAP_COUNTERS)


def test_counts_of_one_command():
    cfg = PRUNE
    q, k, v = qkv(2, 3, 12, cfg.head_dim, SEED + 2)
    transport, drv = core(cfg)
    got = run(drv.run_model(q, k, v, "summarize", True))
    for res, counts in zip(transport.model.results, got["command_counters"][0], strict=True):
        cmd = res["command"]
        row = out_row_bytes(cfg.head_dim, cfg.value_bits)
        assert counts["BYTES_WRITTEN"] == row * (survivor_rows(cfg) + res["heads_kept"] * cmd.rows)
        q_row = (cfg.head_dim * cfg.msb_bits + 7) // 8 + (cfg.head_dim * cfg.lsb_bits + 7) // 8
        assert counts["BYTES_READ_Q"] == res["heads_kept"] * cmd.rows * q_row
        assert counts["COMMANDS_DONE"] == 1 and counts["BYTES_READ_CMD"] == RECORD_BYTES
    first, second = transport.model.results
    assert got["command_counters"][0][0]["TOKENS_PRUNED"] == 12 - first["tokens_kept"]
    assert got["command_counters"][0][1]["TOKENS_PRUNED"] == first["tokens_kept"] - second["tokens_kept"]
    assert got["command_counters"][0][1]["HEADS_PRUNED"] == first["heads_kept"] - second["heads_kept"]
    assert second["tokens_kept"] == second["command"].token_keep


def one_step(cfg, keys=10, layers=2, seed=SEED + 3):
    """A transport, a driver, a layout and one step's commands written (not started)."""
    transport, drv = core(cfg)
    q, k, v = qkv(layers, 2, keys, cfg.head_dim, seed)
    layout = drv.prepare_sequence(layers, 2, keys, cfg.head_dim)
    step = drv.sequence_step(layout, q, k, v, 0, keys, fresh=True)
    run(drv.write_step(layout, step))
    return transport, drv, layout, step


def write_record(transport, addr, cmd):
    transport.mem[addr:addr + RECORD_BYTES] = command_bytes(cmd)


BAD = [
    (dict(magic=0x1234), Error.MAGIC),
    (dict(keys=TINY.max_context + 1), Error.L_RANGE),
    (dict(token_keep=0), Error.KEEP_RANGE),
    (dict(head_keep=3), Error.HEAD_KEEP_RANGE),
    (dict(value_keep=0), Error.VALUE_KEEP_RANGE),
    (dict(k_lsb_base=2), Error.ALIGN_K_LSB),
    (dict(survivors_base=(1 << 32) - 4), Error.RANGE_SURVIVORS),
]


@pytest.mark.parametrize("change, error", BAD, ids=[e.name for _, e in BAD])
def test_bad_command_stops_the_list_and_writes_nothing(change, error):
    transport, drv, layout, step = one_step(TINY)
    write_record(transport, layout.cmd_ptr + RECORD_BYTES, dataclasses.replace(step[1].command, **change))
    before = bytes(transport.mem)
    run(drv.start(layout.cmd_ptr + RECORD_BYTES, 2))
    with pytest.raises(CommandError, match=error.name) as info:
        run(drv.wait())
    assert (info.value.code, info.value.index) == (error, 0)
    assert bytes(transport.mem) == before
    counts = run(drv.counters())
    assert counts["BYTES_READ_CMD"] == RECORD_BYTES and counts["COMMANDS_DONE"] == 0
    assert transport.model.results == []
    status = run(drv.status())
    assert not (status.error or status.done)           # wait() cleared it


def test_second_command_bad_first_runs():
    transport, drv, layout, step = one_step(TINY)
    write_record(transport, layout.cmd_ptr + RECORD_BYTES, dataclasses.replace(step[1].command, heads=0))
    run(drv.start(layout.cmd_ptr, 2))
    status = run(drv.wait(raise_on_error=False))
    assert (status.error, status.error_code, status.command) == (True, Error.HEADS_RANGE, 1)
    counts = run(drv.counters())
    assert counts["COMMANDS_DONE"] == 1 and counts["BYTES_READ_CMD"] == 2 * RECORD_BYTES
    # LAYER_*: the first command's counts; the total has the second record read too.
    layer = {name.removeprefix("LAYER_"): value for name, value in run(drv.counters(layer=True)).items()}
    assert layer == counts | {"BYTES_READ_CMD": RECORD_BYTES}
    run(drv.clear())
    assert not run(drv.status()).error


def test_keys_shrink_and_fresh():
    transport, drv, layout, step = one_step(TINY, keys=10)
    run(drv.start(layout.cmd_ptr, 2))
    assert run(drv.wait()).done
    short = dataclasses.replace(step[0].command, keys=8, rows=8, token_keep=8, fresh=False)
    write_record(transport, layout.cmd_ptr, short)
    before = bytes(transport.mem)
    tokens = transport.model.token_alive.size
    run(drv.start(layout.cmd_ptr, 1))
    with pytest.raises(CommandError, match="KEYS_SHRINK"):
        run(drv.wait())
    assert bytes(transport.mem) == before and transport.model.token_alive.size == tokens == 10
    write_record(transport, layout.cmd_ptr, dataclasses.replace(short, fresh=True))
    run(drv.start(layout.cmd_ptr, 1))
    assert run(drv.wait()).done and transport.model.token_alive.size == 8
    # The soft reset forgets the sequence too: the short command then runs without fresh.
    run(drv.soft_reset())
    assert transport.model.token_alive.size == 0 and run(drv.counters())["COMMANDS_DONE"] == 0
    write_record(transport, layout.cmd_ptr, dataclasses.replace(short, keys=6, rows=6, token_keep=6))
    run(drv.start(layout.cmd_ptr, 1))
    assert run(drv.wait()).done


def test_core_errors_of_pointer_and_memory():
    transport, drv, layout, step = one_step(TINY)
    for ptr, error in ((layout.cmd_ptr + 4, Error.ALIGN_CMD), (MEM, Error.CMD_READ)):
        run(drv.start(ptr, 1))
        with pytest.raises(CommandError, match=error.name):
            run(drv.wait())
        assert run(drv.counters())["BYTES_READ_CMD"] == (RECORD_BYTES if error is Error.CMD_READ else 0)
    for change, error in ((dict(v_msb_base=MEM), Error.DATA_READ), (dict(out_base=MEM), Error.OUT_WRITE)):
        write_record(transport, layout.cmd_ptr, dataclasses.replace(step[0].command, **change))
        run(drv.start(layout.cmd_ptr, 1))
        with pytest.raises(CommandError, match=error.name):
            run(drv.wait())
        assert transport.model.results[-1]["error"] is error


def test_last_flag_and_empty_list_and_registers():
    transport, drv, layout, step = one_step(TINY, layers=3)
    run(drv.check_hardware())
    write_record(transport, layout.cmd_ptr + RECORD_BYTES, dataclasses.replace(step[1].command, last=True))
    run(drv.start(layout.cmd_ptr, 3))
    status = run(drv.wait())
    assert status.done and status.command == 1 and run(drv.counters())["COMMANDS_DONE"] == 2
    decoded = run(drv.decoded())
    cmd = step[1].command
    assert decoded == {"mode": cmd.mode, "last": 1, "keys": cmd.keys, "rows": cmd.rows,
                       "head_dim": cmd.head_dim, "heads": cmd.heads, "token_keep": cmd.token_keep,
                       "head_keep": cmd.head_keep}
    run(drv.write_reg("CMD_COUNT", 0x1_0000))                # 16 bits: a list of 0
    assert run(drv.read_reg("CMD_COUNT")) == 0
    run(drv.start(layout.cmd_ptr, 0))
    status = run(drv.wait())
    assert status.done and status.command == 0 and run(drv.counters())["BYTES_READ_CMD"] == 0


@pytest.mark.parametrize("field, value", [("token_importance_norm", True), ("v_scale", "token"),
                                          ("v_zero_point", True)])
def test_core_refuses_what_it_does_not_compute(field, value):
    extra = {"v_scale": "channel"} if field == "v_zero_point" else {}
    cfg = dataclasses.replace(TINY, **extra, **{field: value})
    with pytest.raises(ValueError, match=f"cfg.{field} must be"):
        CoreModel(cfg)
    q, k, v = qkv(1, 1, 4, TINY.head_dim, SEED)
    drv = SpattenDriver(GoldenTransport(TINY, MEM), cfg)
    with pytest.raises(ValueError, match=f"cfg.{field} must be"):
        run(drv.run_model(q, k, v))


def run_commands(cfg, q, k, v, changes):
    """One step of every layer with each command's fields changed as ``changes[layer]`` says."""
    transport, drv = core(cfg)
    n_layers, heads, keys, d = len(q), *np.shape(q[0])
    layout = drv.prepare_sequence(n_layers, heads, keys, d)
    step = drv.sequence_step(layout, q, k, v, 0, keys, fresh=True)
    run(drv.write_step(layout, step))
    for i, change in enumerate(changes):
        cmd = dataclasses.replace(step[i].command, **change)
        write_record(transport, layout.cmd_ptr + i * RECORD_BYTES, cmd)
    run(drv.start(layout.cmd_ptr, n_layers))
    assert run(drv.wait()).done
    return transport.model.results


def test_head_candidates_are_the_previous_layers_survivors():
    q, k, v = qkv(3, 4, 8, TINY.head_dim, SEED + 4)
    first, second, third = run_commands(TINY, q, k, v, [dict(head_keep=4), dict(head_keep=1),
                                                         dict(head_keep=3)])
    assert first["head_alive"].all() and second["head_alive"].sum() == 1
    assert np.array_equal(third["head_alive"], second["head_alive"])
    assert (third["out"][~third["head_alive"]] == 0).all() and (third["out"][third["head_alive"]] != 0).any()
    # Pruned: candidates minus kept (the third layer's one candidate survives).
    assert [r["counters"]["HEADS_PRUNED"] for r in (first, second, third)] == [0, 3, 0]


@pytest.mark.parametrize("causal", [False, True])
def test_sinks_and_recent_tokens_protected_in_causal_commands(causal):
    keys, d = 12, TINY.head_dim
    low = np.zeros(keys, dtype=bool)
    low[[0, 1, keys - 3, keys - 2, keys - 1]] = True
    rng = np.random.default_rng(SEED + 5)
    q = [np.ones((1, keys, d)) * 2] * 2
    k = [np.where(low[None, :, None], -2.0, 2.0) + rng.normal(size=(1, keys, d)) * 0.3] * 2
    v = [rng.normal(size=(1, keys, d))] * 2
    # Layer 0 ranks the protected tokens last; layer 1 keeps 7 of 12.
    _, second = run_commands(PRUNE, q, k, v, [dict(causal=False, token_keep=keys),
                                              dict(causal=causal, token_keep=7)])
    alive = second["token_alive"]
    assert alive.sum() == 7
    assert alive[low].all() == causal and alive[low].any() == causal


def test_per_head_scales_equal_spatten_attention():
    from golden.spatten import SpattenAttention

    q, k, v = qkv(3, 3, 14, TINY.head_dim, SEED + 6)
    for h in range(3):                      # heads of different ranges: per-head scales differ
        q[1][h] *= 1 + h
        k[1][h] *= 3 - h
    _, drv = core(PRUNE)
    got = run(drv.run_model(q, k, v, "summarize", True, per_head_scale=True))
    att = SpattenAttention(PRUNE, 3, 3, per_head_scale=True)
    for layer in range(3):
        assert np.array_equal(got["outputs"][layer], att(layer, q[layer], k[layer], v[layer], causal=True))
    shared = run(core(PRUNE)[1].run_model(q, k, v, "summarize", True))
    assert not np.array_equal(shared["outputs"][1], got["outputs"][1])


@pytest.mark.parametrize("args, message", [
    ((0, 2, 8, 8), r"n_layers must be in 1\.\.64, not 0"),
    ((1, 33, 8, 8), r"n_heads must be in 1\.\.32, not 33"),
    ((1, 2, 65, 8), r"length must be in 1\.\.64, not 65"),
    ((1, 2, 8, 9), r"d must be in 1\.\.8, not 9"),
])
def test_prepare_sequence_wrong(args, message):
    with pytest.raises(ValueError, match=message):
        core(TINY)[1].prepare_sequence(*args)


def test_run_model_wrong():
    q, k, v = qkv(2, 2, 8, TINY.head_dim, SEED)
    drv = core(TINY)[1]
    with pytest.raises(ValueError, match="equally long non-empty lists, not 2, 1, 2"):
        run(drv.run_model(q, k[:1], v))
    with pytest.raises(ValueError, match="prompt_len must be in 1..8, not 9"):
        run(drv.run_model(q, k, v, "generate", True, 9))
    with pytest.raises(ValueError, match="mode must be 'summarize' or 'generate', not 'decode'"):
        run(drv.run_model(q, k, v, "decode"))
    with pytest.raises(ValueError, match=r"k_layers\[1\] must be \(H=2, L, D=8\), not \(2, 8, 4\)"):
        run(drv.run_model(q, [k[0], k[1][..., :4]], v))
