#!/usr/bin/env bash
# Install proactivebench_ext next to lmms-eval 0.7.3 with the lean CPU recipe (the README's install).
#
#   bash install.sh            # create ./.venv (if missing) and install into it
#   bash install.sh --current  # install into the current interpreter ($PYTHON, default python3)
#
# Why not `pip install lmms-eval`: it pulls a CUDA torch + torchvision (~146 packages), and the
# torchvision that pip pairs with the CPU torch 2.13.0 breaks `import lmms_eval.evaluator`. So we
# install what lmms-eval really imports, pinned by constraints.txt (torch 2.13.0 CPU, filelock<4,
# decord for the HF VLM backends, av for the batched gemma3 backend), then lmms-eval itself with --no-deps, then this package
# (editable, with test extras). Idempotent: re-running only re-checks the pins.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON="${PYTHON:-python3}"
LMMS_EVAL_DEPS=(
  torch==2.13.0 "filelock<4" decord av
  accelerate datasets evaluate transformers tokenizers loguru pytablewriter sacrebleu scikit-learn nltk
  numexpr sentencepiece tenacity python-dotenv zstandard PyYAML Jinja2 pillow sympy protobuf psutil
)

run() { echo "+ $*"; "$@"; }

case "${1:-}" in
  --current) py="$(command -v "$PYTHON")" ;;
  "")
    if [ ! -x .venv/bin/python ]; then
      run "$PYTHON" -m venv .venv
    else
      echo "= .venv exists, reusing it"
    fi
    py=.venv/bin/python
    ;;
  *) echo "usage: bash install.sh [--current]" >&2; exit 2 ;;
esac

echo "= installing into $("$py" -c 'import sys; print(sys.prefix)') (Python $("$py" -c 'import platform; print(platform.python_version())'))"
run "$py" -m pip install --quiet -c constraints.txt "${LMMS_EVAL_DEPS[@]}"
run "$py" -m pip install --quiet -c constraints.txt --no-deps lmms-eval==0.7.3
run "$py" -m pip install --quiet -c constraints.txt -e ".[test]"
run "$py" -c "import lmms_eval.models, proactivebench_ext.lmms.registration as r; print('ok: lmms-eval tasks at', r.tasks_path())"
