# protoserve: the two README commands are `make serve` and `make test`.
# Each installs what is missing (scripts/setup), builds, trains the demo
# models, then serves them or runs every test.

BUILD      ?= build
PY         := /usr/bin/python3
REPO       := $(BUILD)/model_repository
DATA       := $(BUILD)/data
GENERATOR  := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
JOBS       ?= $(shell nproc)
SERVE_ARGS ?=
# Warnings are errors with the supported toolchain (Debian 12's g++ 12);
# `make WERROR=OFF ...` for another compiler (before the first configure).
WERROR     ?= ON
# ccache keys on paths relative to the checkout (a rebuild of the same tree,
# or of a fresh clone in the same place, hits the cache), and not on the build
# directory: with -g (RelWithDebInfo) ccache would hash the directory each
# object is compiled in, so `make test`'s backends-off tree, compiled with
# $(BUILD)'s flags but for main.cc, missed on every file (~9 min of a cold CI
# run). Its objects' debug info then names $(BUILD) as their compile
# directory; their source paths (../src/...) resolve the same from either.
# The clang trees (sanitizers) share nothing with $(BUILD): other compiler.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

.PHONY: all setup configure build models serve test unit e2e bench clean proto-lint proto-baseline

all: build

setup:
	@scripts/setup

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROTOSERVE_WERROR=$(WERROR)

configure: $(BUILD)/CMakeCache.txt

build: setup configure
	cmake --build $(BUILD) -j $(JOBS)

# Models are retrained only when their scripts or their typed contracts (the
# .proto files the scripts copy into the repository) change (stamp per model).
MODEL_NAMES := recommender fashion_mnist patient_outcome patient_record
MODEL_STAMPS := $(foreach m,$(MODEL_NAMES),$(REPO)/.$(m).stamp)

.SECONDEXPANSION:
$(REPO)/.%.stamp: models/%/train.py models/common.py $$(shell find models/$$* -name '*.proto')
	@mkdir -p $(REPO) $(DATA)
	$(PY) models/$*/train.py --repo $(REPO) --data $(DATA)
	@touch $@

models: setup $(MODEL_STAMPS)

serve: build models
	$(BUILD)/protoserve --model-repository=$(REPO) $(SERVE_ARGS)

# The ordinary suite, then fuzzing and sanitizers, bounded (see the last section).
test: build models
	cd $(BUILD) && ctest --output-on-failure -j 2
	$(MAKE) --no-print-directory test-fuzz
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-tsan
	$(MAKE) --no-print-directory test-backends-off

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

e2e: build models
	cd $(BUILD) && ctest --output-on-failure -L e2e

# The benchmark suite: writes docs/benchmarks.md and docs/img/*.svg (~10 minutes).
bench: build models
	$(PY) bench/run_suite.py --build $(BUILD)

clean:
	rm -rf $(BUILD)

# ---- contracts (docs/contracts.md) -------------------------------------------
# buf lint + buf breaking over every .proto (buf.yaml), as `make test` runs them
# (ctest contracts_buf). proto-baseline rewrites proto/baseline.json after a
# deliberate contract change: it runs buf breaking first and refuses a break
# unless ALLOW_BREAKING=1.
BUF := tools/buf/node_modules/.bin/buf

proto-lint: setup
	$(BUF) lint
	cd tests/contracts && $(PY) -m unittest test_contracts

proto-baseline: setup
	$(PY) scripts/proto_baseline $(if $(ALLOW_BREAKING),--allow-breaking)

# ---- security and reliability (docs/security.md) ---------------------------
# One clang ASan+UBSan build (SAN_BUILD) serves the fuzzers and the ASan tests:
# the project's libraries get -fsanitize=fuzzer-no-link (coverage for libFuzzer,
# harmless in ordinary executables), only the fuzz executables link libFuzzer.
# TSan cannot share it: TSAN_BUILD compiles the core and the scheduler's tests.
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 60) each
#   make test-fuzz  every target for FUZZ_SMOKE_SECONDS (15) from its seed corpus
#   make test-asan  unit + e2e tests against the ASan+UBSan build
#   make test-tsan  the DynamicBatcher, token table and span processor tests under TSan, 20 times
# `make test` runs the last three after the ordinary suite (time measured in
# docs/security.md). Every sanitizer report fails them: UBSan is built with
# -fno-sanitize-recover (a report aborts), ASan/LSan/UBSan reports of any
# process under test-asan are also written to SAN_BUILD/sanitizer-reports/,
# which must stay empty; libFuzzer and TSan exit non-zero on a report.
# libtorch, OpenBLAS, gRPC and protobuf are not instrumented: bugs inside them
# go unseen, but they cause no false reports (leak checking stays on).
SAN_BUILD          ?= build-san
TSAN_BUILD         ?= build-tsan
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 15
SAN_REPORTS        := $(abspath $(SAN_BUILD))/sanitizer-reports
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:strict_init_order=1:log_path=$(SAN_REPORTS)/asan \
           UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(SAN_REPORTS)/ubsan
# Every unit and e2e test runs under ASan but test_bench: it tests the load
# generator (protoserve-cli bench), not the server, for 40 s.
ASAN_EXCLUDE ?= e2e_test_bench

.PHONY: fuzz test-fuzz test-asan test-tsan san-configure test-backends-off

san-configure: setup
	cmake -S . -B $(SAN_BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DPROTOSERVE_SANITIZE=address,undefined -DPROTOSERVE_FUZZ=ON -DFUZZ_CTEST_SECONDS=$(FUZZ_SMOKE_SECONDS)

fuzz: san-configure
	cmake --build $(SAN_BUILD) -j $(JOBS) --target fuzzers
	tests/fuzz/run_all.sh $(SAN_BUILD) $(FUZZ_SECONDS)

test-fuzz: san-configure
	cmake --build $(SAN_BUILD) -j $(JOBS) --target fuzzers
	cd $(SAN_BUILD) && ctest --output-on-failure -L fuzz -j 2

test-asan: san-configure models
	cmake --build $(SAN_BUILD) -j $(JOBS) --target protoserve protoserve-cli core_tests unit_tests
	ln -sfn $(abspath $(REPO)) $(SAN_BUILD)/model_repository
	ln -sfn $(abspath $(DATA)) $(SAN_BUILD)/data
	rm -rf $(SAN_REPORTS) && mkdir -p $(SAN_REPORTS)
	cd $(SAN_BUILD) && $(SAN_ENV) ctest --output-on-failure -L 'unit|e2e' -E '$(ASAN_EXCLUDE)' -j 2
	@if [ -n "$$(ls -A $(SAN_REPORTS))" ]; then \
	  echo "test-asan: sanitizer reports in $(SAN_REPORTS):"; cat $(SAN_REPORTS)/*; exit 1; fi
	@echo "test-asan: no sanitizer report"

# The server with both backends switched off: it builds, its unit tests pass,
# and it starts on the demo repository explaining each model it cannot load.
# A build tree of its own, compiled with $(BUILD)'s flags: after $(BUILD),
# ccache answers every object but main.cc's (~1 min, ~10 min when ccache is
# off or cold).
NOBACKENDS_BUILD ?= build-nobackends
test-backends-off: models
	cmake -S . -B $(NOBACKENDS_BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROTOSERVE_WERROR=$(WERROR) \
	  -DPROTOSERVE_WITH_TORCH=OFF -DPROTOSERVE_WITH_XGBOOST=OFF
	cmake --build $(NOBACKENDS_BUILD) -j $(JOBS) --target protoserve core_tests unit_tests
	$(NOBACKENDS_BUILD)/tests/unit/core_tests --gtest_brief=1
	$(NOBACKENDS_BUILD)/tests/unit/unit_tests --gtest_brief=1
	cd tests/backends_off && PROTOSERVE_BUILD=$(abspath $(NOBACKENDS_BUILD)) \
	  PROTOSERVE_MODEL_REPOSITORY=$(abspath $(REPO)) $(PY) -m unittest -v test_no_backends

# Only tests that touch no protobuf message: protobuf's headers change the
# layout of map fields under TSan (map_field.h), which no longer matches
# Debian's uninstrumented libprotobuf, so such tests crash in a TSan build.
TSAN_TESTS ?= DynamicBatcher*:TokenAuthorizer*:BatchSpanProcessor*

test-tsan: setup
	cmake -S . -B $(TSAN_BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DPROTOSERVE_SANITIZE=thread -DPROTOSERVE_WITH_TORCH=OFF -DPROTOSERVE_WITH_XGBOOST=OFF
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target scheduler_tsan_tests
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  $(TSAN_BUILD)/tests/unit/scheduler_tsan_tests --gtest_filter='$(TSAN_TESTS)' --gtest_repeat=20 --gtest_brief=1
