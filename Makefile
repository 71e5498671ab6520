# Two commands do all the set-up: `make run` and `make test`.
# Both create .venv with the first Python >= 3.12 found (see .ci/find-python).
VENV ?= .venv
BIN := $(VENV)/bin
RUNS ?= 200

.PHONY: run test lint clean

$(BIN)/sim: pyproject.toml
	@PY=$$(sh .ci/find-python) || exit 1; \
	echo "creating $(VENV) with $$PY"; \
	"$$PY" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@# an editable install compiles no bytecode (pip does for a regular one), and where the environment
	@# sets PYTHONDONTWRITEBYTECODE every command would compile the package anew: a twentieth of a second
	$(BIN)/python -m compileall -q sim
	@touch $@

run: $(BIN)/sim  ## install, then run the bundled 2021 scenario
	$(BIN)/sim run kosovo_2021 --runs $(RUNS)

test: $(BIN)/sim  ## install, then run the test suite and the linter
	$(BIN)/python -m pytest
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs
