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

.PHONY: all setup configure build models serve test unit e2e bench clean

all: build

setup:
	@scripts/setup

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo

configure: $(BUILD)/CMakeCache.txt

build: setup configure
	cmake --build $(BUILD) -j $(JOBS)

# Models are retrained only when their scripts change (stamp per model).
MODEL_NAMES := recommender fashion_mnist patient_outcome patient_record
MODEL_STAMPS := $(foreach m,$(MODEL_NAMES),$(REPO)/.$(m).stamp)

$(REPO)/.%.stamp: models/%/train.py models/common.py
	@mkdir -p $(REPO) $(DATA)
	$(PY) models/$*/train.py --repo $(REPO) --data $(DATA)
	@touch $@

models: setup $(MODEL_STAMPS)

serve: build models
	$(BUILD)/protoserve --model-repository=$(REPO) $(SERVE_ARGS)

test: build models
	cd $(BUILD) && ctest --output-on-failure -j 2

unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

e2e: build models
	cd $(BUILD) && ctest --output-on-failure -L e2e

# The benchmark suite: writes docs/benchmarks.md and docs/img/*.svg (~10 minutes).
bench: build models
	$(PY) bench/run_suite.py --build $(BUILD)

clean:
	rm -rf $(BUILD)

# ---- security and reliability (docs/security.md) ---------------------------
# make fuzz: libFuzzer targets (clang, ASan+UBSan) for FUZZ_SECONDS each.
# make test-asan: unit + e2e tests against an ASan+UBSan build.
# make test-tsan: the scheduler (DynamicBatcher) unit tests under TSan.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
ASAN_BUILD   ?= build-asan
TSAN_BUILD   ?= build-tsan
# Every ASan (leaks included) or UBSan report fails the test: a server that
# reports exits non-zero and the e2e harness fails on it. libtorch, OpenBLAS,
# gRPC and protobuf are not instrumented: bugs inside them go unseen, but they
# cause no false reports (the full suite ran clean with leak checking on).
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:strict_init_order=1 \
           UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

.PHONY: fuzz test-asan test-tsan

fuzz: setup
	cmake -S . -B $(FUZZ_BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
	  -DPROTOSERVE_FUZZ=ON -DPROTOSERVE_SANITIZE=address,undefined -DPROTOSERVE_WITH_TORCH=OFF -DPROTOSERVE_WITH_XGBOOST=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzzers
	tests/fuzz/run_all.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

test-asan: setup models
	cmake -S . -B $(ASAN_BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROTOSERVE_SANITIZE=address,undefined
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target protoserve protoserve-cli unit_tests
	ln -sfn $(abspath $(REPO)) $(ASAN_BUILD)/model_repository
	ln -sfn $(abspath $(DATA)) $(ASAN_BUILD)/data
	cd $(ASAN_BUILD) && $(SAN_ENV) ctest --output-on-failure -L 'unit|e2e' -j 2

# Only tests that touch no protobuf message: protobuf's headers change the
# layout of map fields under TSan (map_field.h), which no longer matches
# Debian's uninstrumented libprotobuf, so such tests crash in a TSan build.
TSAN_TESTS ?= DynamicBatcher*:TokenAuthorizer*

test-tsan: setup
	cmake -S . -B $(TSAN_BUILD) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROTOSERVE_SANITIZE=thread
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target unit_tests
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  $(TSAN_BUILD)/tests/unit/unit_tests --gtest_filter='$(TSAN_TESTS)' --gtest_repeat=20 --gtest_brief=1
