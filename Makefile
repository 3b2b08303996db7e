# lisa_ros developer commands. A fresh machine needs only python3 (3.11, with headers), cmake,
# a C/C++ compiler and network access to PyPI: `make test` / `make demo` set up .venv themselves.
#
#   make test    build/refresh .venv, then run every test (slow ones included)
#   make demo    build/refresh .venv, then run the end-to-end demo (python -m lisa_ros.demo)
#   make venv    only build/refresh .venv (each step reruns only when its inputs changed)
#   make clean   remove build/ (the next make rebuilds the interfaces, ~30 s)
#   make distclean  also remove .venv
#
# What `make venv` does, step by step (stamp files inside .venv record what is done):
#   1. python3 -m venv .venv, with pinned pip/setuptools          (.venv/bin/python)
#   2. pip install -r requirements.txt -r requirements-ros.txt,
#      then tools/repair_ros_cmake.py                             (.venv/.stamp-requirements)
#   3. cmake configure/build/install of msg/ srv/ action/ into .venv (prefix = .venv),
#      build dir build/venv                                        (.venv/.stamp-interfaces)
#   4. pip install --no-deps --no-build-isolation . (console scripts), then cmake --install
#      again (our code, launch/, config/, beside the generated interfaces) (.venv/.stamp-package)
# Never an editable install: a cmake install into a venv holding an editable install makes
# source edits silently ignored (docs: environment.md). Step 4 reruns whenever a file under
# lisa_ros/, setup.py, scripts/, config/ or launch/ changes (about 5 s).

PYTHON    ?= python3
VENV      ?= .venv
BUILD_DIR ?= build/venv
PYTEST_ARGS ?=

VPY   := $(VENV)/bin/python
VPIP  := $(VPY) -m pip
ABS_VENV := $(abspath $(VENV))

BOOTSTRAP_PKGS := pip==26.3 setuptools==79.0.1
REQUIREMENTS   := requirements.txt requirements-ros.txt

REQ_STAMP   := $(VENV)/.stamp-requirements
IFACE_STAMP := $(VENV)/.stamp-interfaces
PKG_STAMP   := $(VENV)/.stamp-package
PKG_FILES   := $(VENV)/.package-files

IFACE_SRCS := $(wildcard msg/*.msg srv/*.srv action/*.action) CMakeLists.txt package.xml
PKG_SRCS   := $(shell find lisa_ros scripts config launch -type f \
                 -not -path '*/__pycache__/*' -not -name '*.pyc' 2>/dev/null) setup.py

# The ROS wheels re-exec the interpreter once with LD_LIBRARY_PATH set and mark that in this
# variable; a make started from another venv's Python must not inherit the mark.
unexport _ROS_WHEELS_BOOTSTRAP_COMPLETE

# The ROS build tools and CMake find everything in the venv.
ROS_ENV := PATH="$(ABS_VENV)/bin:$$PATH" VIRTUAL_ENV="$(ABS_VENV)" \
           AMENT_PREFIX_PATH="$(ABS_VENV)" CMAKE_PREFIX_PATH="$(ABS_VENV)"

# cmake --install, then drop the egg-info that rosidl's Python install adds: beside pip's
# dist-info it would make two "lisa_ros" distributions, and pip, uninstalling through the
# egg-info (top_level.txt), deletes all of site-packages/lisa_ros, generated modules included.
CMAKE_INSTALL = $(ROS_ENV) cmake --install $(BUILD_DIR) > $(BUILD_DIR)/install.log && \
	rm -rf $(VENV)/lib/python3*/site-packages/lisa_ros-*-py3*.egg-info

.PHONY: all venv _venv test demo clean distclean FORCE
.DELETE_ON_ERROR:

all: test

# `venv` holds a lock so that two makes in one checkout (several engineers, CI) do not
# install into .venv at the same time.
venv:
	@mkdir -p build
	@if command -v flock >/dev/null 2>&1; then \
		flock build/.venv.lock $(MAKE) --no-print-directory _venv; \
	else \
		$(MAKE) --no-print-directory _venv; \
	fi

_venv: $(PKG_STAMP)

$(VPY):
	$(PYTHON) -m venv $(VENV)
	$(VPIP) install -q $(BOOTSTRAP_PKGS)

$(REQ_STAMP): $(REQUIREMENTS) $(VPY)
	$(VPIP) install -q -r requirements.txt -r requirements-ros.txt
	$(VPY) tools/repair_ros_cmake.py $(VENV)
	@touch $@

$(BUILD_DIR)/CMakeCache.txt: $(REQ_STAMP)
	$(VPY) tools/repair_ros_cmake.py $(VENV)
	$(ROS_ENV) cmake -S . -B $(BUILD_DIR) -DCMAKE_INSTALL_PREFIX="$(ABS_VENV)" \
		-DPython3_EXECUTABLE="$(ABS_VENV)/bin/python" -DBUILD_TESTING=OFF \
		-DCMAKE_BUILD_TYPE=Release --log-level=WARNING
	@touch $@

$(IFACE_STAMP): $(BUILD_DIR)/CMakeCache.txt $(IFACE_SRCS)
	$(ROS_ENV) cmake --build $(BUILD_DIR) -j$$(nproc 2>/dev/null || echo 2)
	$(CMAKE_INSTALL)
	@touch $@

# The list of package files, rewritten only when a file is added or removed, so that a
# deletion also triggers a reinstall (make sees only timestamps).
$(PKG_FILES): FORCE
	@mkdir -p $(@D)
	@printf '%s\n' $(sort $(PKG_SRCS)) > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi

# pip first, then cmake --install (which puts back anything of the generated msg/srv/action
# that pip's uninstall of the previous copy removed).
$(PKG_STAMP): $(IFACE_STAMP) $(PKG_FILES) $(PKG_SRCS)
	@rm -rf build/setuptools
	$(VPIP) install -q --no-deps --no-build-isolation .
	$(CMAKE_INSTALL)
	@touch $@

test: venv
	$(VPY) -m pytest tests -q $(PYTEST_ARGS)

demo: venv
	$(VPY) -m lisa_ros.demo

clean:
	rm -rf build lisa_ros.egg-info .pytest_cache
	rm -f $(IFACE_STAMP) $(PKG_STAMP)

distclean: clean
	rm -rf $(VENV)

FORCE:
