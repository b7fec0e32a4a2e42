# The two commands a newcomer needs: `make run` and `make test`.
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STOCK  := var/stock/default.parquet
PORT   ?= 8501
# this machine only; serving to a network is deliberate: RETROFIT_HOST=0.0.0.0 make run (sign-in needed)
HOST   ?= $(or $(RETROFIT_HOST),127.0.0.1)

.PHONY: install run test bench stock clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

stock: $(STOCK)

# the default stock is made again when what it is made from changes (its tables, the reference
# data, the generator and its calibration), so an upgraded checkout never plans on a stale stock
STOCK_INPUTS := $(wildcard data/stock/* data/reference/*.csv data/energy/* retrofit/stock/*.py retrofit/energy.py retrofit/reference.py)

$(STOCK): $(STOCK_INPUTS) | $(STAMP)
	$(BIN)/retrofit stock generate --out $(STOCK)

run: $(STAMP) $(STOCK)
	$(BIN)/streamlit run app/main.py --server.address $(HOST) --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: $(STAMP)
	tools/test-prerequisites
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf var .pytest_cache
