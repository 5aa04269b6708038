#!/usr/bin/env bash
# Installs everything Hukou Archive needs on a fresh Debian machine: the Debian
# packages (Tesseract with Chinese, CJK fonts for the page generator and the
# PDF text layer, poppler for checks) and a virtual environment with the project.
# Safe to repeat. Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PACKAGES=(tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-chi-tra fonts-noto-cjk fonts-arphic-ukai fonts-arphic-uming poppler-utils)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"
stamp=".venv/.installed${extra}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing the project into .venv ${extra}"
  if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e ".${extra}"; } > .venv/pip.log 2>&1; then
    tail -n 30 .venv/pip.log >&2
    echo "setup: pip failed; the whole log is in .venv/pip.log" >&2
    exit 3
  fi
  .venv/bin/python -c "import rapidocr, pikepdf, prefect, sqlalchemy" && touch "$stamp"
fi
