# The two commands of the README. Each installs what it needs on first use (install/install.sh is
# idempotent and returns at once when nothing changed).
PY := .venv/bin/python
export OMP_NUM_THREADS ?= 2

.PHONY: install demo test lint bench
install:
	@install/install.sh

demo: install
	.venv/bin/faceplate demo -o demo_out

test: install
	OMP_NUM_THREADS=1 $(PY) -m pytest -q tests

lint: install
	$(PY) -m ruff check engine nuke_plugin tests bench
	$(PY) -m mypy --config-file mypy.ini

bench: install
	@for b in bench/*.py; do $(PY) $$b; done
