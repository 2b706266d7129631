# Two commands for a fresh machine with Python 3.11+ and pip: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pipecat, for the compatibility suite, is a large install: it gets an environment of its own.
COMPAT_VENV ?= .venv-compat
COMPAT_STAMP := $(COMPAT_VENV)/.installed

.PHONY: demo test test-browser test-compat test-hf lint bench soak install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[all]'
	touch $(STAMP)

install: $(STAMP)

# The set-up commands run on the embedded local server whatever the shell exports: the
# hosted API is an explicit choice (TTSKIT_BASE_URL=together in a notebook, --base-url
# on the command line), never a side effect of a key in the environment.
OFFLINE := env -u TTSKIT_BASE_URL -u TOGETHER_API_KEY -u TTSKIT_API_KEY -u PYTEST_ADDOPTS -u PYTHONPATH

demo: $(STAMP)
	$(OFFLINE) $(BIN)/ttskit demo

test: $(STAMP)
	$(OFFLINE) $(BIN)/python -m pytest -q tests
	$(OFFLINE) $(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules ttskit
	$(OFFLINE) $(BIN)/python -m pytest -q --nbval-lax notebooks

$(COMPAT_STAMP): pyproject.toml
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install -q -e '.[compat]'
	touch $(COMPAT_STAMP)

# Real third-party clients (openai, together, pipecat) against the real server.
test-compat: $(COMPAT_STAMP)
	$(OFFLINE) $(COMPAT_VENV)/bin/python -m pytest -q tests/compat

test-browser: $(STAMP)
	$(OFFLINE) bash tests/browser/run.sh

# Hugging Face `datasets` loading a generated folder for real. datasets 5 decodes audio
# through torchcodec, whose PyPI wheel links torch's CUDA build (it runs on the CPU) and
# FFmpeg's shared libraries, so this lives in a venv of its own instead of `make test`.
HF_VENV ?= .venv-hf
HF_BIN := $(HF_VENV)/bin
HF_STAMP := $(HF_VENV)/.installed

$(HF_BIN)/python:
	$(PYTHON) -m venv $(HF_VENV)
	$(HF_BIN)/python -m pip install -q --upgrade pip

$(HF_STAMP): pyproject.toml | $(HF_BIN)/python
	command -v ffmpeg >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; } || \
		{ echo "test-hf needs FFmpeg's libraries: apt-get install ffmpeg" >&2; exit 1; }
	$(HF_BIN)/python -m pip install -q torch==2.14.1
	$(HF_BIN)/python -m pip install -q -e '.[server,dataset]' pytest pytest-timeout datasets torchcodec
	touch $(HF_STAMP)

test-hf: $(HF_STAMP)
	$(OFFLINE) $(HF_BIN)/python -m pytest -q tests/dataset/test_huggingface.py

lint: $(STAMP)
	$(BIN)/ruff check ttskit tests benchmarks
	$(BIN)/ruff format --check ttskit tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/server.py
	$(BIN)/python benchmarks/client.py
	$(BIN)/python benchmarks/display.py
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/dataset.py

# The long reliability runs: schemathesis (thousands of requests), 32 streams for 60 s,
# a 5,000-request soak with the server's RSS, 200 disconnects, stalled clients, slowloris,
# 1,100 idle WebSocket sessions against 1,024 descriptors.
soak: $(STAMP)
	$(BIN)/python -m tests.reliability.soak

clean:
	rm -rf $(VENV) $(COMPAT_VENV) $(HF_VENV) build *.egg-info demo-output
