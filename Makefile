# Two entry points for a fresh machine (Python 3.11 needed: bpy 5.0.1 is built for it):
#   make demo   create .venv, install, start a backend and run a job against it
#   make test   create .venv, install with test extras, run the whole test suite
#               (with the Khronos glTF validator too where npm is on PATH; without it, its test skips)
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt
GLTF_VALIDATOR := tests/support/gltf_validator

.PHONY: demo test gltf-validator bench constraints clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e '.[test]'
	touch $@

$(GLTF_VALIDATOR)/node_modules/.installed: $(GLTF_VALIDATOR)/package-lock.json
	cd $(GLTF_VALIDATOR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

gltf-validator: $(GLTF_VALIDATOR)/node_modules/.installed

demo: $(VENV)/.installed
	bash scripts/demo.sh

test: $(VENV)/.installed-test $(if $(shell command -v npm),gltf-validator)
	$(BIN)/python -m pytest tests --durations=15

bench: $(VENV)/.installed
	$(BIN)/distill3d bench protocol

constraints: $(VENV)/.installed-test
	{ echo "# Exact versions the test suite passed with (pip install -c constraints.txt ...)."; \
	  echo "# Regenerate after a deliberate upgrade: make constraints"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^distill3d'; } > constraints.txt

clean:
	rm -rf $(VENV) .demo build *.egg-info $(GLTF_VALIDATOR)/node_modules
