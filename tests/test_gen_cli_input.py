"""Bad TOML and command-line input: one line naming the key or argument, exit status 2, no traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

from gen.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _error(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    return code, err


def test_cli_toml_not_text_wrong(capsys, tmp_path):
    path = tmp_path / "binary.toml"
    path.write_bytes(b"head_dim = 64\n\xff\xfe\x00")
    code, err = _error(capsys, ["verilog", "--config", str(path), "--out", str(tmp_path / "out")])
    assert code == 2 and "is not valid TOML" in err and err.count("\n") == 1, err


def test_cli_config_folder_wrong(capsys, tmp_path):
    code, err = _error(capsys, ["verilog", "--config", str(tmp_path), "--out", str(tmp_path / "out")])
    assert code == 2 and "--config: no such file" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: COMMAND"),
    (["build"], "argument COMMAND: invalid choice: 'build'"),
    (["verilog", "--preset"], "argument --preset: expected one argument"),
    (["verilog", "--bogus"], "unrecognized arguments: --bogus"),
    (["fuzz", "--draws", "0"], "argument --draws: must be an integer >= 1, not '0'"),
    (["fuzz", "--smoke-every", "x"], "argument --smoke-every: must be an integer >= 0, not 'x'"),
    (["soak", "--requests", "-5"], "argument --requests: must be an integer >= 1, not '-5'"),
    (["soak", "--blocks", "topk,nope"], "--blocks: block must be one of"),
    (["capture", "--models", "minilm,gpt2"], "--models must name some of minilm, smollm2, not 'minilm,gpt2'"),
    (["capture", "--out", "/nonexistent/qkv"], "--out: no such folder '/nonexistent/qkv'"),
    (["capture", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_cli_arguments_wrong(capsys, argv, message):
    code, err = _error(capsys, argv)
    assert code == 2
    assert message in err and err.count("\n") == 1, err


def test_cli_bad_toml_process_wrong(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("softmax_lanes = 3\n")
    argv = [sys.executable, "-m", "gen", "verilog", "--config", str(path), "--out", str(tmp_path)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == ("python -m gen verilog: error: --config: softmax_lanes must be a power of "
                                   "two, not 3")


def test_cli_config_unreadable_wrong(capsys, tmp_path, monkeypatch):
    path = tmp_path / "locked.toml"
    path.write_text("head_dim = 64\n")

    def locked(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    # As root every file is readable: the open inside gen.config refuses instead.
    monkeypatch.setattr("gen.config.open", locked, raising=False)
    code, err = _error(capsys, ["verilog", "--config", str(path), "--out", str(tmp_path / "out")])
    assert code == 2
    assert err.strip() == f"python -m gen verilog: error: --config: cannot read {path}: Permission denied"
