# fieldcrm: `make run` serves the demo, `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app fieldcrm
export FLASK_DEBUG ?= 0

.PHONY: run setup venv vendor translations migrate demo test test-unit test-browser lint bench clean

run: setup migrate demo
	@echo ""
	@echo "fieldcrm on http://127.0.0.1:5000  (demo logins, password fieldcrm-demo):"
	@echo "  admin@example.com  manager@example.com  rep1@example.com ... rep5@example.com"
	FIELDCRM_INSECURE_COOKIES=1 $(FLASK) run --host 127.0.0.1 --port 5000

setup: $(VENV)/.installed node_modules/.installed vendor translations

$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

vendor: node_modules/.installed
	node scripts/vendor.mjs

translations: $(VENV)/.installed
	$(VENV)/bin/pybabel compile -d fieldcrm/translations

migrate: setup
	$(FLASK) db upgrade

demo: migrate
	$(FLASK) fieldcrm demo

test: setup
	$(VENV)/bin/ruff check .
	node --test tests/js/
	$(VENV)/bin/pytest -n 2 --dist loadgroup

test-browser: setup
	$(VENV)/bin/pytest -m browser

lint: setup
	$(VENV)/bin/ruff check .

messages: $(VENV)/.installed
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o fieldcrm/translations/messages.pot fieldcrm
	$(VENV)/bin/pybabel update -i fieldcrm/translations/messages.pot -d fieldcrm/translations --no-fuzzy-matching

# Every benchmark, each printing its figures next to its in-run baseline (docs/PERFORMANCE.md).
# BENCHES=bench.sync make bench runs one; bench.nearby builds 1,000,000 customers (minutes).
BENCHES ?= bench.list_detail bench.history_abc bench.imports bench.sync bench.nearby
bench: setup
	@for b in $(BENCHES); do echo "== $$b"; $(PY) -m $$b || exit 1; done

clean:
	rm -rf $(VENV) node_modules fieldcrm/static/vendor
