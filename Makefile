# rns-bench. `make bench` and `make test` each set up the environment on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATASET ?= toy
BACKBONE ?=
ARGS ?=

# Offline by default: no hub lookups, W&B offline. ONLINE=1 lets the Hugging Face libraries download
# (make bench ONLINE=1 BACKBONE=clip_b16). Weights are looked up in your own Hugging Face cache (HF_HOME /
# HF_HUB_CACHE as set, else ~/.cache/huggingface); CI keeps a cache of its own inside the repo.
ONLINE ?=
ifeq ($(ONLINE),1)
export HF_HUB_OFFLINE := 0
export HF_DATASETS_OFFLINE := 0
else
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
endif
export WANDB_MODE ?= offline
export WANDB_DIR ?= $(CURDIR)/.tmp/wandb
ifdef CI
export HF_HOME ?= $(CURDIR)/.tmp/hf
endif
# The torch build: the default index gives torch 2.14.1's CUDA 13 build. An older driver or a CPU-only
# machine names PyTorch's wheel index of its variant, e.g. TORCH_INDEX=https://download.pytorch.org/whl/cu126
# (CUDA 12.6) or .../whl/cpu; the pins stay the same.
TORCH_INDEX ?=
TORCH_FROM := $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX) --extra-index-url https://pypi.org/simple)

NAME ?=
DATASETS ?=

.PHONY: setup bench experiment report test test-all lint perf perf-scale perf-docs docs plan demo clean-results

setup: $(VENV)/.installed

# torch is pinned to the build on this machine's disk; <2.15 keeps resolvers off multi-GB downloads.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# --no-compile: Python compiles what is imported on first use, not every file of torch up front (≈ 30 s).
	$(PY) -m pip install -q --no-compile --upgrade pip setuptools wheel
	$(PY) -m pip install -q --no-compile $(TORCH_FROM) "torch==2.14.1" "torchvision==0.29.1"
	# siglip: transformers, for SigLIP2's Gemma tokenizer (siglip2_l16 works once its weights are cached).
	# docs: mkdocs + Material, for `make docs` (the site under docs/, built strict). demo: Gradio, for `make demo`.
	$(PY) -m pip install -q --no-compile -e ".[dev,reference,siglip,docs,demo]" "torch==2.14.1"
	# sam2 is a source package: without these flags its build downloads torch 2.15 and CUDA.
	SAM2_BUILD_CUDA=0 $(PY) -m pip install -q --no-compile --no-build-isolation "sam2==1.1.0" "torch==2.14.1" \
		"torchvision==0.29.1"
	touch $@

bench: setup
	$(PY) -m rns_bench.bench dataset=$(DATASET) $(if $(BACKBONE),backbone=$(BACKBONE)) $(ARGS)

# A paper table or figure (configs/experiment/$(NAME).yaml): every dataset as one Hydra multirun job
# (DATASETS=voc,ade narrows it; a dataset missing on disk is skipped with a message), then its report.
experiment: setup
	$(PY) -m rns_bench.bench --multirun experiment=$(NAME) $(if $(BACKBONE),backbone=$(BACKBONE)) $(if $(DATASETS),dataset=$(DATASETS)) $(ARGS)
	$(PY) -m rns_bench.report $(NAME) $(if $(BACKBONE),backbone=$(BACKBONE)) $(if $(DATASETS),dataset=$(DATASETS)) $(ARGS)

# What an experiment will do (runs, evaluations, images to extract, cache GB, RAM, GPU-hours), nothing spent.
plan: setup
	$(PY) -m rns_bench.cli.plan $(NAME) $(if $(BACKBONE),backbone=$(BACKBONE)) $(if $(DATASETS),dataset=$(DATASETS)) $(ARGS)

report: setup
	$(PY) -m rns_bench.report $(NAME) $(if $(BACKBONE),backbone=$(BACKBONE)) $(if $(DATASETS),dataset=$(DATASETS)) $(ARGS)

# Test workers side by side (pytest-xdist, one per core), one torch thread each: two 2-thread workers on two
# cores run tiny loops many times slower. ARGS="-n 0" runs them in this process.
test: setup
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -q -m "not slow" -n auto $(ARGS)

test-all: setup
	$(PY) -m pytest -q $(ARGS)

lint: setup
	$(VENV)/bin/ruff check rns_bench baselines tests
	$(VENV)/bin/ruff format --check rns_bench baselines tests
	$(VENV)/bin/lint-imports  # the layers of shared/design.md (pyproject.toml [tool.importlinter])

perf: setup
	$(PY) -m rns_bench.perf --restated-release tests/reference/released_rns.py $(ARGS)

# How cost and memory grow with the data: bank build time, a sweep's peak RSS over 500 vs 2,000 test images.
perf-scale: setup
	$(PY) -m rns_bench.perf.scale $(ARGS)

# docs/performance.md: `make perf`'s short figures with the date and this machine's CPU / GPU (generated, never typed).
perf-docs: setup
	$(PY) -m rns_bench.perf --restated-release tests/reference/released_rns.py --short --markdown docs/performance.md $(ARGS)

# The documentation site (mkdocs.yml, docs/): --strict, so a broken link or a page left out of the nav fails.
docs: setup
	$(VENV)/bin/mkdocs build --strict -d .tmp/site

# The web demo (rns_bench/demo/): open-world segmentation in the browser at http://127.0.0.1:7860, on the
# toy example with no weights (ARGS="--backbone clip_b16 --port 8000 --support my/support").
demo: setup
	$(PY) -m rns_bench.demo $(ARGS)

clean-results:
	rm -rf results
