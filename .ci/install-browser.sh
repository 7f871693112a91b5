#!/usr/bin/env bash
# Install what tests/test_browser.py needs on a fresh Debian, as root, without questions:
#   - Debian's Chromium and its matching ChromeDriver (/usr/bin/chromium, /usr/bin/chromedriver),
#     so the driver and the browser always have the same version;
#   - a font, so screenshots show text rather than empty boxes;
#   - Selenium's Python bindings into the Python that runs the tests (PYTHON, default: the
#     first python3 on PATH, i.e. the activated virtual environment in .ci/run).
# Selenium is pointed at these two binaries by the test, so it never downloads a browser or a
# driver of its own (this network only reaches package registries).
# Idempotent: steps whose result is already there are skipped, so reruns cost seconds.
set -euo pipefail

PYTHON="${PYTHON:-python3}"

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
        || [ ! -d /usr/share/fonts/truetype/dejavu ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo ".ci/install-browser.sh: installing Debian packages needs root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver fonts-dejavu-core >/dev/null
fi

if ! "$PYTHON" -c "import selenium" >/dev/null 2>&1; then
    "$PYTHON" -m pip install --quiet "selenium>=4.20"
fi

echo "browser test ready: $(chromium --version 2>/dev/null | head -n 1);" \
     "$(chromedriver --version 2>/dev/null | head -n 1 | cut -d' ' -f1-2);" \
     "selenium $("$PYTHON" -c 'import selenium; print(selenium.__version__)')"
