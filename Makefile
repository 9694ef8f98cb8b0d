# bgmatte: `make demo` builds .venv/ and mattes the bundled sample shot; `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
BGM := $(VENV)/bin/bgmatte
CONSTRAINTS ?= constraints/cpu.txt
EXTRAS ?= test,blender,farm,peers,train
SHOT := samples/shot
DEMO_OUT := out/demo
BLENDER_PLATFORM ?= linux-x64

.PHONY: env demo test bench blender-extension protocol-copies clean

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	touch $@

demo: env
	$(BGM) matte '$(SHOT)/frame.####.exr' --plate '$(SHOT)/clean.exr' -o '$(DEMO_OUT)/matte.####.exr'
	$(BGM) eval '$(DEMO_OUT)/matte.####.exr' '$(SHOT)/alpha.####.exr' --frame '$(SHOT)/frame.####.exr' --sheet '$(DEMO_OUT)/contact_sheet.png'

test: env
	$(PY) -m pytest -q

bench: env
	$(BGM) bench

# dist/bgmatte-<version>.zip (the add-on alone) and dist/bgmatte-<version>-linux_x64.zip (with the core
# and its dependencies as wheels, pinned in constraints/blender-linux-x64.txt, cached in out/wheels/).
blender-extension: env
	$(PY) blender_addon/build_extension.py --output-dir dist
	$(PY) blender_addon/build_extension.py --output-dir dist --platform $(BLENDER_PLATFORM)

# The hosts' verbatim copies of core/bgmatte/protocol.py (tests/test_protocol.py checks them).
protocol-copies:
	cp core/bgmatte/protocol.py blender_addon/bgmatte_protocol.py
	cp core/bgmatte/protocol.py nuke_gizmo/bgmatte_nuke/bgmatte_protocol.py

clean:
	rm -rf $(DEMO_OUT) dist build
