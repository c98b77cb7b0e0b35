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
