# heed's front door.
#   make            build everything (installs missing Debian packages first)
#   make test       build, then run the fast test suite (what CI runs)
#   make demo       build heed and the showcase only (3-4 min from a fresh clone on 2 cores), then train it
#                   (seq2seq with attention on dates, under a minute, SVG heatmaps)
#   make bench      build, then run the benchmarks (side by side with PyTorch when it is installed)
#   make bench-g2p  examples/g2p's model trained by heed and by PyTorch, side by side (long: G2P_EPOCHS=3)
#   make bench-ddp  the data-parallel benchmarks under mpirun (make bench runs them too, when MPI is there)
#   make test-asan  the fast suite again, built with AddressSanitizer and UndefinedBehaviorSanitizer
#   make fuzz       build the libFuzzer targets with clang and run each for FUZZ_SECONDS (60) (docs/reliability.md)
#   make deps       install missing Debian packages (as root, or through sudo)
# Variables: BUILD_DIR (build), BUILD_TYPE (Release), CMAKE_FLAGS (extra cmake -D...), PREFIX.

BUILD_DIR ?= build
BUILD_TYPE ?= Release
CMAKE_FLAGS ?=
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
# CMake's build runs make again underneath: without this, every step of it says "Entering directory".
MAKEFLAGS += --no-print-directory
# Open MPI: heed_distributed (data-parallel training, docs/distributed.md) and its tests under mpirun;
# festlex-cmu: the CMU Pronouncing Dictionary that examples/g2p learns from (docs/g2p.md).
DEB_PACKAGES := libopenblas-openmp-dev catch2 libfmt-dev cmake g++ pkg-config libopenmpi-dev openmpi-bin festlex-cmu

.PHONY: all deps configure build test test-slow test-all test-asan fuzz demo bench bench-g2p bench-ddp install clean format

all: build

deps:
	@if ! command -v dpkg-query >/dev/null 2>&1; then \
	  echo "heed: not a Debian system; make sure CMake, a C++20 compiler, OpenBLAS (OpenMP build), fmt and Catch2 v2 are installed (and MPI for heed_distributed)"; \
	  exit 0; fi; \
	missing=""; \
	for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "heed: installing missing Debian packages:$$missing"; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
	else echo "heed: cannot install packages as this user. Run as root:"; \
	     echo "  apt-get update && apt-get install -y --no-install-recommends$$missing"; exit 1; fi; \
	$$sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing || { \
	  echo "heed: installing failed. Run:"; echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$$missing"; exit 1; }

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Every example and benchmark is part of the build, so `make test` also proves none of them rot.
test: build
	ctest --test-dir $(BUILD_DIR) -L fast -j $(JOBS) --output-on-failure

test-slow: build
	ctest --test-dir $(BUILD_DIR) -L slow -j $(JOBS) --output-on-failure

# In a separate build directory; the install test is left out (it builds a consumer without the
# sanitizer runtime).
test-asan: deps
	@cmake -S . -B $(BUILD_DIR)-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEED_SANITIZE=ON \
	  -DHEED_BUILD_EXAMPLES=OFF -DHEED_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD_DIR)-asan -j $(JOBS)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	  ctest --test-dir $(BUILD_DIR)-asan -L fast -E install_find_package_and_pkg_config -j $(JOBS) --output-on-failure

# libFuzzer (clang, Debian's libclang-rt): the library and the targets in fuzz/ are built with
# -fsanitize=fuzzer-no-link,address,undefined. Each target runs for FUZZ_SECONDS on a working copy of
# its seed corpus ($(FUZZ_DIR)/corpus/<target>: the committed fuzz/corpus is only read); a crashing
# input is written to $(FUZZ_DIR)/artifacts/<target>/ and stops the run.
FUZZ_SECONDS ?= 60
FUZZ_DIR ?= $(BUILD_DIR)-fuzz
FUZZ_TARGETS := fuzz_checkpoint fuzz_tensor_bytes fuzz_csv fuzz_tokenizer_files fuzz_cmudict
fuzz: deps
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="clang libclang-rt-dev libomp-dev"
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Release -DHEED_FUZZ=ON -DHEED_BUILD_TESTS=OFF \
	  -DHEED_BUILD_EXAMPLES=OFF -DHEED_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target $(FUZZ_TARGETS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/artifacts/$$t; \
	  cp fuzz/corpus/$$t/* $(FUZZ_DIR)/corpus/$$t/; \
	  echo "heed: fuzzing $$t for $(FUZZ_SECONDS) s"; \
	  OMP_NUM_THREADS=1 $(FUZZ_DIR)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=30 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t/ $(FUZZ_DIR)/corpus/$$t; \
	done

test-all: build
	ctest --test-dir $(BUILD_DIR) -j $(JOBS) --output-on-failure

# The showcase: a GRU encoder-decoder with attention learns to rewrite dates; its attention maps (SVG) go to
# $(BUILD_DIR)/attention_maps. It builds the libraries and that one program, not the tests and benchmarks.
demo: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target seq2seq_attention
	$(BUILD_DIR)/examples/seq2seq_attention --quick --out $(BUILD_DIR)/attention_maps

bench: build
	bench/run.sh $(BUILD_DIR)
	@if [ -x $(BUILD_DIR)/bench/bench_ddp ]; then $(MAKE) bench-ddp; fi

# Data-parallel benchmarks (docs/distributed.md): 2 ranks x 1 thread over TCP on the loopback and over
# shared memory, then 1 process x 2 threads. As root, Open MPI needs the two OMPI_ALLOW_RUN_AS_ROOT variables.
MPIRUN = OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe --bind-to none --mca pml ob1
bench-ddp: build
	@test -x $(BUILD_DIR)/bench/bench_ddp || { echo "heed: bench_ddp is not built (CMake did not find MPI)"; exit 1; }
	@echo "== 2 ranks x 1 thread, TCP over loopback =="
	OMP_NUM_THREADS=1 $(MPIRUN) -np 2 --mca btl self,tcp --mca btl_tcp_if_include lo $(BUILD_DIR)/bench/bench_ddp
	@echo "== 2 ranks x 1 thread, shared memory =="
	OMP_NUM_THREADS=1 $(MPIRUN) -np 2 --mca btl self,vader $(BUILD_DIR)/bench/bench_ddp
	@echo "== 1 process x 2 threads =="
	OMP_NUM_THREADS=2 $(MPIRUN) -np 1 $(BUILD_DIR)/bench/bench_ddp

# examples/g2p's attention model in heed and in PyTorch, same batches and initial weights, G2P_EPOCHS
# epochs each (docs/g2p.md); long: run it on an idle machine.
G2P_EPOCHS ?= 3
bench-g2p: build
	bench/g2p.sh $(BUILD_DIR) $(G2P_EPOCHS)

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR)-asan $(FUZZ_DIR)
