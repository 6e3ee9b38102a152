# The README's two commands are `make course` and `make test`; both install what they need first.
PYTHON ?= python3
PIP = $(PYTHON) -m pip

.PHONY: setup course test test-fast html sync

setup:  ## install the course: offline Fashion-MNIST (Debian, as root), pinned torch, gan_utils[dev]
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ ! -d /usr/share/datasets/fashion-mnist ]; then \
		apt-get install -y -q dataset-fashion-mnist || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; } \
		|| echo "note: offline Fashion-MNIST not installed; it will be downloaded when online"; fi
	$(PIP) install -q -r requirements-ci.txt
	$(PIP) install -q -e ".[dev]"

course: setup  ## command 1: set up and open the course in JupyterLab
	$(PYTHON) -m jupyter lab notebooks/

test: setup  ## command 2: set up and run every test (unit tests + all notebooks in smoke mode under nbval)
	GAN_COURSE_SMOKE=1 OMP_WAIT_POLICY=PASSIVE $(PYTHON) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider

test-fast:  ## unit tests only, no install
	$(PYTHON) -m pytest tests -q

html:  ## execute every notebook in full mode and render HTML to build/html (for lectures)
	mkdir -p build/html
	GAN_COURSE_WIDGETS=0 $(PYTHON) -m jupyter nbconvert --to html --execute --ExecutePreprocessor.timeout=-1 --output-dir build/html notebooks/*.ipynb

sync:  ## rewrite badges/setup cells from pyproject's slug and strip outputs
	$(PYTHON) scripts/sync_notebooks.py
