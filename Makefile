# AccountSync: `make run` to try it, `make test` to test it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck install messages clean bench

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP) messages

# The Chinese catalog (locale/zh_Hans) compiled to the .mo Django reads. Babel's pybabel is pure
# Python and pinned, so this works on a fresh machine without GNU gettext's msgfmt.
messages: $(STAMP)
	$(VENV)/bin/pybabel compile --domain django --directory locale

run: install
	$(PY) scripts/run_demo.py

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy .

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) db.sqlite3* .run
