# Two commands on a fresh machine with Python 3.11+ and make: `make run`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LANGUAGES := en pl tr ar
CATALOG := locales/buurtbot.pot

.PHONY: run sandbox test lint install migrate messages-extract messages-update messages-compile bench clean

# Reinstall when the dependency list or the lock changes; pip is told to stay inside the lock.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("buurtbot needs Python 3.11 or newer, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	@touch $@

install: $(STAMP)

migrate: $(STAMP)
	$(BIN)/python -m bot db upgrade

run: migrate
	$(BIN)/python -m bot run

sandbox: $(STAMP)
	$(BIN)/python -m bot sandbox

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Catalogs: extract the Dutch source strings, merge them into each language, compile.
messages-extract: $(STAMP)
	$(BIN)/pybabel extract --mapping-file babel.cfg --keywords N_ --no-location --sort-output \
		--project buurtbot --copyright-holder "buurtbot" --msgid-bugs-address "" \
		--output-file $(CATALOG) .

messages-update: messages-extract
	@for lang in $(LANGUAGES); do \
		if [ -f locales/$$lang/LC_MESSAGES/buurtbot.po ]; then \
			$(BIN)/pybabel update --no-fuzzy-matching --ignore-obsolete \
				--input-file $(CATALOG) --output-dir locales --domain buurtbot --locale $$lang; \
		else \
			$(BIN)/pybabel init --input-file $(CATALOG) --output-dir locales --domain buurtbot --locale $$lang; \
		fi; \
	done

messages-compile: $(STAMP)
	$(BIN)/pybabel compile --directory locales --domain buurtbot --statistics

# Every benchmark in its quick mode, three runs each: a table against the targets, written
# to bench/results.md and the README (about 6 minutes on 2 cores; on a quiet machine).
bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
