# The README's two commands are `make course` and `make test`; both install what they need first.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
# Extra arguments for JupyterLab, e.g. make course JUPYTER_ARGS="--ip=0.0.0.0 --port=9000"
JUPYTER_ARGS ?=
export JUPYTER_ARGS

.PHONY: setup course fresh move-edits test test-fast test-floor test-floor-torch test-browser browser-setup site slides html sync

setup:  ## install the course: offline Fashion-MNIST (Debian, as root), pinned torch, gan_utils[dev]
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ ! -d /usr/share/datasets/fashion-mnist ]; then \
		apt-get install -y -q dataset-fashion-mnist || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; } \
		|| echo "note: offline Fashion-MNIST not installed; it will be downloaded when online"; fi
	$(PIP) install -q -r requirements-ci.txt
	$(PIP) install -q -e ".[dev]"

course: setup  ## command 1: set up, copy the notebooks to my-notebooks/ (first run only) and open JupyterLab there
	$(PYTHON) scripts/course.py open

fresh:  ## a fresh copy of one notebook in my-notebooks/ (yours is kept in my-notebooks/old/): make fresh NB=04
	@test -n "$(NB)" || { echo "usage: make fresh NB=04"; exit 2; }
	$(PYTHON) scripts/course.py fresh $(NB)

move-edits:  ## your saved work in the tracked notebooks/ moves to my-notebooks/; notebooks/ restored with git
	$(PYTHON) scripts/course.py move-edits

test: setup  ## command 2: set up and run every test (unit tests + all notebooks in smoke mode under nbval)
	@$(PYTHON) scripts/course.py check-tracked
	GAN_COURSE_SMOKE=1 OMP_WAIT_POLICY=PASSIVE $(PYTHON) -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider

test-fast:  ## unit tests only, no install
	OMP_WAIT_POLICY=PASSIVE $(PYTHON) -m pytest tests -q

test-floor:  ## unit tests with pyproject's lowest declared versions (torch/torchvision: this Python's) in build/floor-venv
	$(PYTHON) scripts/floor.py

test-floor-torch:  ## the same with torch/torchvision at their floors too (isolated venv; ~2.6 GB of wheels)
	$(PYTHON) scripts/floor.py --torch-floor

browser-setup:  ## Debian's chromium (as root) and playwright, for test-browser
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; \
		else echo "test-browser needs /usr/bin/chromium (Debian/Ubuntu: sudo apt-get install chromium)"; exit 2; fi; fi
	$(PIP) install -q -e ".[dev,browser]"

test-browser: browser-setup  ## real-browser tests: JupyterLab runs notebooks 01 and 04 with widgets; the site renders
	GAN_COURSE_BROWSER_TESTS=1 GAN_COURSE_SMOKE=1 OMP_WAIT_POLICY=PASSIVE $(PYTHON) -m pytest tests/browser -p no:cacheprovider -v

site: setup  ## execute the notebooks (modes: scripts/build_site.py) and render the course website and its slides to build/site
	OMP_WAIT_POLICY=PASSIVE $(PYTHON) scripts/build_site.py

slides: setup  ## the reveal.js decks only (build/site/slides/), from make site's cached runs; offline
	OMP_WAIT_POLICY=PASSIVE $(PYTHON) scripts/build_site.py --slides-only

html: site  ## the old name of `make site`

sync:  ## rewrite badges/setup cells from pyproject's slug and strip outputs
	$(PYTHON) scripts/sync_notebooks.py
