#!/usr/bin/env bash
# One command from a fresh clone to a report: install into ./.venv (install.sh: lmms-eval 0.7.3, torch with its
# torchvision (docs/install.md says which build and why), this package with its test extras, matplotlib
# included), then run the benchmark end to end on the embedded synthetic set (python -m proactivebench_ext demo).
# PYTHON, TORCH, TORCHVISION and EXTRAS are passed on to install.sh.
#
#   bash demo.sh                                  # oracle, random and a tiny LLaVA, every episode
#   bash demo.sh --limit 1 --models oracle,random # arguments go to the demo (--out, --limit, --models)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

bash install.sh
exec .venv/bin/python -m proactivebench_ext demo "$@"
