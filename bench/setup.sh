#!/usr/bin/env bash
# Creates the benchmark's own environment, /work/main/.venv-bench (gitignored via `.venv-*/`), so that the
# tools we compare against never land in the project's main venv.
#   bash bench/setup.sh            # create or update
#   BENCH_VENV=/tmp/vb bash bench/setup.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BENCH_VENV:-$REPO/.venv-bench}"
PY="${PYTHON:-python3}"

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/pip --disable-pip-version-check -q"
$PIP install -U pip
# this project (its own deps: aiohttp, urllib3, trustme, numpy, pillow, fastcore ...)
$PIP install -e "$REPO[dask]"   # [dask]: distributed, for the nacti_dl/dask row
# MegaDetector: only its url_utils is used. `--no-deps` avoids torch/ultralytics/...; then the few modules
# megadetector.utils.url_utils (and megadetector.utils.ct_utils, which it imports) actually need.
$PIP install --no-deps megadetector
$PIP install requests tqdm pytest jsonpickle numpy
# img2dataset (files output, no resize) and the plot
$PIP install img2dataset matplotlib psutil
# optional: a sampling profiler for bench/profile_download.py (a binary wheel; the benchmark runs without it)
$PIP install py-spy || echo "py-spy not installed: bench/profile_download.py still works (cProfile)"
# check every tool imports
"$VENV/bin/python" - <<'EOF'
import importlib
for m in ('nacti_dl', 'distributed', 'megadetector.utils.url_utils', 'img2dataset', 'matplotlib'):
    importlib.import_module(m); print('ok', m)
EOF
echo "bench venv ready: $VENV"
