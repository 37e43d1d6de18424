# The two set-up commands of the README: `make demo` and `make test`.
# Both create or refresh .venv; nothing else needs to be installed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch/torchvision pinned here to the wheels cached on the build machines; pyproject accepts any torch>=2.4.
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1

.PHONY: venv demo test bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/python -m pip install -q $(TORCH_PIN)
	$(BIN)/python -m pip install -q -e '.[test,ray,tensorboard,share,corruptions]'
	touch $(STAMP)

venv: $(STAMP)

## demo: build the synthetic dataset (embedded generator, no download), score three activations on it, write the report
demo: $(STAMP)
	$(BIN)/noisebench synth --rows 7000 --seed 0 --force
	$(BIN)/noisebench verify datasets_cache/synth-7000-dirty.h5
	$(BIN)/noisebench robustness --activation relu,elu,tact --suite synth --seeds 2 --epochs 5
	$(BIN)/noisebench report --out results/report --force
	@echo "open results/report/report.md (tables also as CSV and LaTeX) and the figures next to it (PNG, PDF, SVG)"

## test: lint (ruff: pyflakes, import order, bugbear), then the whole offline CPU test suite
test: $(STAMP)
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider -n auto --maxprocesses 4 --dist loadgroup --durations=25

clean:
	rm -rf $(VENV) build *.egg-info
