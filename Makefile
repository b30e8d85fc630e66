# illume: two commands on a fresh Debian 12 machine
#   make demo    -- installs, builds, runs the main job
#   make check   -- installs, builds, runs every test
SHELL := /bin/bash
NPROC := $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
BUILD_TYPE ?= Release
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEB_PACKAGES := build-essential cmake ninja-build pkg-config libtorch-dev libopenblas0-openmp \
  nlohmann-json3-dev libcli11-dev libfmt-dev libpcre2-dev libutf8proc-dev libgtest-dev \
  libbenchmark-dev libyaml-cpp-dev ccache chromium clang-14 libclang-rt-14-dev libfuzzer-14-dev
# TensorBoard event files (proto/): the protobuf library and protoc (the tests decode with it too).
DEB_PACKAGES += libprotobuf-dev protobuf-compiler
# Data-parallel training over Gloo (src/illume/dist/): gloo's headers for libtorch's ProcessGroupGloo.
DEB_PACKAGES += libgloo-dev
export GLIBC_TUNABLES ?= glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296

.PHONY: all deps build check demo bench bench-compare clean default-model fuzz fuzz-build fuzz-check cli-doc study study-quick

all: build

# Idempotent: installs only what dpkg does not already report as installed.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all Debian packages present"; fi
	@# npm (with node) fetches llama.cpp's prebuilt libraries for the GGUF interop tests and bench-compare;
	@# a machine that already has node's own npm (e.g. NodeSource's nodejs) keeps it.
	@command -v npm >/dev/null 2>&1 || { echo "deps: installing npm"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends npm; }

# ccache (with paths relative to the parent folder) lets several checkouts share compiled objects.
export CCACHE_BASEDIR ?= $(abspath ..)
export CCACHE_SLOPPINESS ?= pch_defines,time_macros,include_file_mtime,include_file_ctime
# Evaluated when used (after `deps` may have installed ccache), not when the Makefile is read.
LAUNCHER = $(shell command -v ccache >/dev/null 2>&1 && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(LAUNCHER)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(NPROC)

# ctest runs NPROC tests at once: one torch thread each, and OpenMP threads that sleep rather than spin
# (spinning OpenBLAS threads slow down many-fold when another process holds the cores).
# Then a few seconds of every fuzz target (below), under ASan and UBSan.
check: build fuzz-build
	cd $(BUILD) && ILLUME_REQUIRE_SHARED=1 ILLUME_THREADS=1 OMP_WAIT_POLICY=PASSIVE ctest --output-on-failure -j $(NPROC)
	fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_CHECK_SECONDS)

# libFuzzer targets for the torch-free parsers (fuzz/): safetensors, config.json, tokenizer.json,
# the tokenizer round trip, YAML recipes, JSONL files and the three reward parsers. Built with clang
# under ASan + UBSan in their own folder; seeds derived from configs/, models/ and ../shared.
# `make fuzz` runs each target FUZZ_SECONDS, one after another, and prints executions and findings.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_CHECK_SECONDS ?= 5

$(FUZZ_BUILD)/build.ninja: fuzz/CMakeLists.txt
	CC=clang-14 CXX=clang++-14 cmake -S fuzz -B $(FUZZ_BUILD) -G Ninja $(LAUNCHER)

fuzz-build: deps $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(NPROC)
	./$(FUZZ_BUILD)/make_seeds $(FUZZ_BUILD)/seeds

fuzz: fuzz-build
	fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-check: fuzz-build
	fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_CHECK_SECONDS)

# The demo needs only the command-line program (not the tests and benchmarks).
demo: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(NPROC) --target illume_cli
	./$(BUILD)/illume demo

# The credit-strategy study (docs/study.md): 6 strategies x 3 seeds of GRPO from the default model, with
# held-out evaluation, into runs/study/ (index.html, study.json); under 2 hours on 2 cores. An interrupted
# study continues where it stopped (STUDY_FLAGS=--resume; finished runs are not redone).
# study-quick: the same pipeline on a 2 x 2 grid of 2-step runs (configs/study-countdown.yaml's study.quick).
# OpenMP threads wait passively unless OMP_WAIT_POLICY says otherwise: spinning threads slow down
# many-fold when anything else shares the cores (the quick grid: 14 min instead of 1 at load 8).
study: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(NPROC) --target illume_cli
	OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-PASSIVE} ./$(BUILD)/illume study --config configs/study-countdown.yaml $(STUDY_FLAGS)

study-quick: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(NPROC) --target illume_cli
	OMP_WAIT_POLICY=$${OMP_WAIT_POLICY:-PASSIVE} ./$(BUILD)/illume study --config configs/study-countdown.yaml --quick --overwrite $(STUDY_FLAGS)

# docs/cli.md: the hand-written part up to the marker line, then every subcommand's flags as the program
# defines them (tests/core/test_cli_reference.cpp checks that they match).
cli-doc: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(NPROC) --target illume_cli
	{ sed '/^<!-- BEGIN illume cli-reference/q' docs/cli.md && ./$(BUILD)/illume cli-reference; } > docs/cli.md.tmp
	mv docs/cli.md.tmp docs/cli.md

# Retrains the default model from scratch (docs/default-model.md): its tokenizer, then SFT from random
# weights with configs/default-model.yaml; exports to models/illume-countdown-tiny. About 1 hour on 2 cores.
default-model: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(NPROC) --target illume_cli
	./$(BUILD)/illume countdown-tokenizer --out models/illume-countdown-tiny
	./$(BUILD)/illume sft --config configs/default-model.yaml

bench: build
	./$(BUILD)/bench/bench_gemm
	./$(BUILD)/bench/bench_tokenizer
	./$(BUILD)/bench/bench_model
	./$(BUILD)/bench/bench_attention_stats
	./$(BUILD)/bench/bench_distributed

# illume vs llama.cpp on this machine (bench/compare.sh; llama.cpp is fetched from npm at run time).
bench-compare: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(NPROC) --target illume_cli bench_compare
	bench/compare.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
