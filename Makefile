# Two commands from a fresh Debian machine (root for apt-get, or the packages already there):
#   make demo   renders setlists/demo.yaml to renders/demo.mp4 + renders/demo.timeline.png
#   make test   runs the test suite
PY := .venv/bin/python

.PHONY: setup demo test bench clean

setup:
	bash tools/setup.sh

demo: setup
	$(PY) -m vj rehearse setlists/demo.yaml -o renders/demo.mp4

test: setup
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

bench: setup
	$(PY) tools/bench_rehearse.py

clean:
	rm -rf renders .pytest_cache
