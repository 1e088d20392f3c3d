# One command to set up, one to test: `.ci/run` runs exactly these two.
PYTHON ?= python3
VENV ?= .venv
SYSTEM_PACKAGES = ffmpeg chromium chromium-driver

.PHONY: setup system-packages test

setup: system-packages
	$(PYTHON) -m venv $(VENV)
	# torch first and exact: a looser spec would pull gigabytes of CUDA wheels.
	$(VENV)/bin/pip install --quiet torch==2.13.0
	$(VENV)/bin/pip install --quiet -e '.[dev]'

# ffprobe (an independent decoder for the reel check) and Chromium (the UI test), from Debian.
system-packages:
	@if command -v ffprobe >/dev/null && command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "system packages present: $(SYSTEM_PACKAGES)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); \
	else \
		echo "warning: install $(SYSTEM_PACKAGES) (Debian names) as root; without them the ffprobe and browser tests fail"; \
	fi

test:
	$(VENV)/bin/pytest
