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
	# librosa's beat tracker compiles with numba on first import (~40 s): once here, cached in the venv.
	$(VENV)/bin/python -c "import librosa.beat"

# Optional, from Debian: the system ffprobe (else the reel check uses imageio-ffmpeg's ffmpeg) and
# Chromium (else the browser UI test is skipped). Installed only as root; setup never fails for them.
system-packages:
	@if command -v ffprobe >/dev/null && command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "system packages present: $(SYSTEM_PACKAGES)"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES)) \
		|| echo "note: apt-get could not install $(SYSTEM_PACKAGES); going on without them"; \
	else \
		echo "note: skipping the optional system packages $(SYSTEM_PACKAGES) (not root, or no apt-get):"; \
		echo "      the reel check decodes with imageio-ffmpeg's ffmpeg instead of ffprobe, and the browser UI test is skipped"; \
	fi

# Test files run in four worker processes (a file's tests stay together, sharing its fixtures): most
# tests wait on the runs, servers and fakes they start, so four keep two cores busy where two did not.
test:
	$(VENV)/bin/pytest -n 4 --dist loadfile
