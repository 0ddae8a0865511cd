#!/usr/bin/env bash
# The test command (README's second command; `.ci/run` runs exactly this).
#
# Installs what the tests use and a fresh Debian or Ubuntu machine with Rust lacks, then runs
# every test of the workspace. Extra arguments go to `cargo test` (e.g. `--test delivery`).
#
# System packages (apt-get, only when missing, as root or through sudo):
#   espeak-ng      `varsel voice render` is tested against the real speech synthesiser
#   python3        the Python peers the tests talk to (SMSC, SMTP server, OTLP receiver,
#   python3-venv   Web Push decryption, Prometheus parser); each test makes its own virtual
#                  environment under target/varsel-py/ and installs its pinned packages from
#                  PyPI on first use
#   gcc            C code of the crates that build some (ring, sled's dependencies)
#   libxml2-utils  `xmllint`: CAP 1.2 output is checked against the OASIS XSD, Atom feeds for
#                  well-formedness
#   chromium,      the operator console is tested in headless Chromium through chromedriver
#   chromium-driver  (tests/console; they fail, not skip, without them)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
if ! command -v python3 >/dev/null 2>&1; then
  missing+=(python3 python3-venv)
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)

if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${missing[*]}" >&2
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: no apt-get here; install ${missing[*]} yourself and run again" >&2
    exit 1
  fi
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "scripts/test.sh: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    as_root=(sudo)
  fi
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

exec cargo test --workspace "$@"
