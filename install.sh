#!/usr/bin/env bash
# Install proactivebench_ext next to lmms-eval 0.7.3 with the lean recipe (docs/install.md tells the whole story).
#
#   bash install.sh            # create ./.venv with $PYTHON (if missing) and install into it
#   bash install.sh --current  # install into $PYTHON itself (an environment you already have)
#
# Settings, as environment variables:
#   PYTHON=python3.12  the interpreter (default python3). Tested: CPython 3.10, 3.11, 3.12 on Linux x86_64.
#   TORCH=auto         which torch build: auto | keep | cpu | default (below)
#   TORCHVISION=auto   auto: a torchvision matched to the torch (below) | skip: none (lmms-eval's Qwen and
#                      InternVL backends and the LLaVA-OneVision/Qwen processors then fail)
#   EXTRAS=rl          more extras of this package, comma-separated (test is always installed)
#   TORCH_CPU_INDEX    PyTorch's CPU wheel index (default https://download.pytorch.org/whl/cpu; empty: never asked)
#
# torch. auto: an importable torch >= 2.1 (what lmms-eval 0.7.3 requires) is kept: a GPU user's CUDA
# build, or the one an earlier run installed. With --current, any other torch stops the script (set
# TORCH=cpu or TORCH=default to replace it). Otherwise, with an NVIDIA GPU (nvidia-smi) pip's default build;
# without one a CPU build: one your pip already sees (a local wheel, or an index in your pip config), else
# PyTorch's CPU index if it answers within 5 s, else pip's default build (from PyPI: a CUDA build of
# about 5 GB with its nvidia-* libraries on Linux x86_64, a CPU build on macOS). keep: keep or stop.
# cpu: a CPU build or stop. default: pip's default build, even over a kept one.
#
# torchvision: a working one is kept; else the release made for the torch (torch 2.N pairs with
# torchvision 0.(N+15)), from PyTorch's index for its build label (+cpu, +cu130) when that answers,
# checked by running torchvision.ops.nms; one that fails is removed again and the script stops.
#
# Why not `pip install lmms-eval`: it pulls ~146 packages (wandb, timm, opencv, ...) that our tasks and
# the paper's model families never import. So we install what lmms-eval and the families' processors
# really import, pinned by constraints.txt (filelock<4, decord for the HF VLM backends, av for the
# video processors, qwen-vl-utils for the Qwen backends, openai for the openai backends), then
# lmms-eval itself with --no-deps, then this package (editable, with its test extras). pip's complaint
# that lmms-eval's other declared requirements are missing is expected and shown as one line.
# Idempotent: re-running keeps torch and torchvision and only re-checks the pins.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON="${PYTHON:-python3}"
TORCH="${TORCH:-auto}"
TORCHVISION="${TORCHVISION:-auto}"
EXTRAS="${EXTRAS:-}"
TORCH_CPU_INDEX="${TORCH_CPU_INDEX-https://download.pytorch.org/whl/cpu}"
TORCH_VERSION=2.14.1  # the tested torch: constraints.txt pins this public version
TORCHVISION_VERSION=0.29.1  # the torchvision made for it (constraints.txt pins it too)
LMMS_EVAL_VERSION=0.7.3
# What lmms-eval really imports; decord and av for its video-capable backends (decord has wheels for x86-64
# only); qwen-vl-utils for the Qwen backends (the benchmark's own package depends on it); openai for its
# openai backends (API models, vLLM/SGLang servers). docs/models.md: which family needs what.
LMMS_EVAL_DEPS=(
  "filelock<4" 'decord; platform_machine == "x86_64" or platform_machine == "AMD64"' av openai qwen-vl-utils
  accelerate datasets evaluate transformers tokenizers loguru pytablewriter sacrebleu scikit-learn nltk
  numexpr sentencepiece tenacity python-dotenv zstandard PyYAML Jinja2 pillow sympy protobuf psutil
)
# Installed with --no-deps beside lmms-eval: num2words, which SmolVLM's processor requires; its one
# dependency, docopt, serves only its command-line script (and has no wheel).
NO_DEPS_PACKAGES=(num2words)

run() {  # print the command (quoted where needed, so that it can be pasted), then run it
  local arg line="+"
  for arg in "$@"; do case "$arg" in *[!A-Za-z0-9_./=:,+@-]*) line="$line '${arg//\'/\'\\\'\'}'" ;; *) line="$line $arg" ;; esac; done
  echo "$line"
  "$@"
}
die() { echo "install.sh: $*" >&2; exit 1; }
# run, with pip's stderr filtered: its resolver's "lmms-eval 0.7.3 requires X, which is not installed"
# lines (expected: lmms-eval and NO_DEPS_PACKAGES are installed with --no-deps) become one explained
# line; every other line, errors included, is shown as pip wrote it. The exit status is pip's.
pip_run() {
  local rc=0
  run "$@" 2>"$tmp/pip.err" || rc=$?
  "$py" - "$tmp/pip.err" lmms-eval "${NO_DEPS_PACKAGES[@]}" <<'EOF' >&2
import re, sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
no_deps = "|".join(re.sub(r"[-_.]+", "[-_.]", name) for name in sys.argv[2:])
missing = re.compile(rf"^(?:{no_deps}) \S+ requires (\S+?),? .*which is not installed\.$", re.I)
expected = [m.group(1) for m in map(missing.match, lines) if m]
shown = [line for line in lines if not missing.match(line)]
# pip's header line of the conflict list goes too when nothing else is listed under it.
for i, line in enumerate(shown):
    if line.startswith("ERROR: pip's dependency resolver") and not any(s.strip() for s in shown[i + 1:]):
        shown = shown[:i]
        break
for line in shown:
    print(line)
if expected:
    names = sorted({re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0] for req in expected}, key=str.lower)
    print(f"= pip notes that {len(names)} declared requirements of lmms-eval (or {', '.join(sys.argv[3:]) or '-'}) are "
          f"not installed ({', '.join(names)}): expected, since those are installed with --no-deps and what "
          "they need is installed by name (docs/install.md)")
EOF
  return "$rc"
}
usage() { sed -n '2,21p' "$(basename "${BASH_SOURCE[0]}")" | sed 's/^# \{0,1\}//'; exit "$1"; }

mode=venv
for arg in "$@"; do
  case "$arg" in
    --current) mode=current ;;
    -h|--help) usage 0 ;;
    *) echo "install.sh: unknown argument $arg (see bash install.sh --help)" >&2; exit 2 ;;
  esac
done
case "$TORCH" in auto|keep|cpu|default) ;; *) die "TORCH=$TORCH: expected auto, keep, cpu or default" ;; esac
case "$TORCHVISION" in auto|skip) ;; *) die "TORCHVISION=$TORCHVISION: expected auto or skip" ;; esac
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null \
  || die "PYTHON=$PYTHON does not run or is older than 3.10 (with pyenv: PYTHON=\$(pyenv prefix VERSION)/bin/python)"

if [ "$mode" = current ]; then
  py="$(command -v "$PYTHON")"
elif [ -x .venv/bin/python ]; then
  echo "= .venv exists, reusing it"
  py=.venv/bin/python
else
  run "$PYTHON" -m venv .venv
  py=.venv/bin/python
fi
pyver="$("$py" -c 'import platform; print(platform.python_version())')"
echo "= installing into $("$py" -c 'import sys; print(sys.prefix)') (Python $pyver, $(uname -sm))"
case "$pyver" in 3.10.*|3.11.*|3.12.*) ;; *) echo "! Python $pyver is not one of the tested 3.10-3.12: the lock may not resolve" ;; esac
"$py" -c 'import platform, sys; sys.exit(platform.machine() in ("x86_64", "AMD64"))' \
  && echo "! no decord wheel for $(uname -m): skipped; lmms-eval's llava_hf, qwen2_vl and qwen2_5_vl backends (and the demo's tiny LLaVA) will not import"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# ---- torch ------------------------------------------------------------------------------------------
# The installed torch's distribution version (2.13.0, 2.13.0+cpu; not torch.__version__, which may add +cu130),
# if torch imports.
torch_now() { "$py" -c 'import importlib.metadata as m, torch; print(m.version("torch"))' 2>/dev/null || true; }
torch_dist() { "$py" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true; }
at_least_2_1() { "$py" -c 'import sys; v = sys.argv[1].split("+")[0].split("."); sys.exit((int(v[0]), int(v[1])) < (2, 1))' "$1"; }
# "CUDA build" when the wheel's version label says cu.../rocm or it requires CUDA libraries (nvidia-*, cuda-*).
torch_kind() {
  "$py" - "$1" <<'EOF'
import re, sys, zipfile
path = sys.argv[1]
with zipfile.ZipFile(path) as wheel:
    meta = wheel.read(next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))).decode()
version = re.search(r"^Version: (.+)$", meta, re.M).group(1).strip()
label = version.partition("+")[2]
cuda = label.startswith(("cu", "rocm")) or re.search(r"^Requires-Dist: (nvidia|cuda)-(?!.*extra ==)", meta, re.M)
print(version, "CUDA" if cuda else "CPU")
EOF
}
torch_size() {
  "$py" - <<'EOF'
import importlib.util, os
def size(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs
               if not os.path.islink(os.path.join(d, f)))
torch_dir = os.path.dirname(importlib.util.find_spec("torch").origin)
root = os.path.dirname(torch_dir)
cuda = sum(size(os.path.join(root, n)) for n in os.listdir(root)
           if n in ("nvidia", "triton", "cuda") or n.startswith(("nvidia_", "cuda_")) and not n.endswith("info"))
extra = f" + {cuda / 1e9:.1f} GB of CUDA libraries (nvidia-*, triton, cuda-*)" if cuda > 10e6 else ""
print(f"{size(torch_dir) / 1e9:.1f} GB{extra}")
EOF
}

# Whether a wheel index answers within 5 s, so that a machine that cannot reach it does not wait for pip's
# retries (in a thread: urlopen's timeout does not bound the DNS look-up).
answers() {
  "$py" - "$1" 2>/dev/null <<'EOF'
import os, sys, threading, urllib.request
def probe():
    try:
        urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=5).close()
        os._exit(0)
    except Exception:
        os._exit(1)
threading.Thread(target=probe, daemon=True).start()
threading.Event().wait(5)
os._exit(1)
EOF
}

have="$(torch_now)"
keep=""
if [ "$TORCH" = auto ] || [ "$TORCH" = keep ]; then
  if [ -n "$have" ] && at_least_2_1 "$have"; then
    keep=1
  elif [ "$TORCH" = keep ]; then
    dist="$(torch_dist)"
    die "TORCH=keep, but $py has no importable torch >= 2.1 (installed: ${dist:-none})"
  elif [ "$mode" = current ] && [ -n "$(torch_dist)" ]; then
    die "$py has torch $(torch_dist), which lmms-eval 0.7.3 cannot use (it needs an importable torch >= 2.1). Replace it with TORCH=cpu or TORCH=default, or use a fresh venv (no --current)."
  fi
fi

if [ -n "$keep" ]; then
  echo "= torch: keeping the installed $have ($(torch_size))"
else
  want_cpu=""
  if [ "$TORCH" = cpu ]; then
    want_cpu=1
  elif [ "$TORCH" = auto ]; then
    if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
      echo "= torch: an NVIDIA GPU is here: taking pip's default build (TORCH=cpu for a CPU build)"
    else
      want_cpu=1
    fi
  fi
  index_args=()
  if [ -n "$want_cpu" ] && [ -n "$TORCH_CPU_INDEX" ]; then
    if answers "$TORCH_CPU_INDEX"; then
      echo "= torch: PyTorch's CPU index answers: $TORCH_CPU_INDEX"
      index_args=(--extra-index-url "$TORCH_CPU_INDEX")
    else
      echo "= torch: PyTorch's CPU index is not reachable from here ($TORCH_CPU_INDEX, 5 s probe): not used"
    fi
  fi
  # pip download picks what pip would install (a +cpu build sorts above the plain version of the same
  # release, so a local or index CPU wheel wins); we then know the build and its size before installing.
  pip_run "$py" -m pip download --quiet --no-deps -c constraints.txt ${index_args[@]+"${index_args[@]}"} -d "$tmp/torch" \
    "torch==$TORCH_VERSION"
  wheel="$(ls "$tmp"/torch/torch-*.whl)"
  read -r version kind <<<"$(torch_kind "$wheel")"
  mb="$("$py" -c 'import os, sys; print(os.path.getsize(sys.argv[1]) // 1000000)' "$wheel")"
  if [ "$kind" = CPU ]; then
    echo "= torch: chose $version, a CPU build (wheel $mb MB)"
  elif [ -n "$want_cpu" ]; then
    [ "$TORCH" = cpu ] && die "TORCH=cpu, but pip finds no CPU build of torch $TORCH_VERSION for Python $pyver here (no local wheel, CPU index unreachable)"
    echo "= torch: no CPU build of torch $TORCH_VERSION for Python $pyver is reachable (no local wheel, CPU index unreachable):"
    echo "= torch: falling back to pip's default, $version, a CUDA build (wheel $mb MB + nvidia-* libraries, about 5 GB installed)"
  else
    echo "= torch: chose $version, a CUDA build (wheel $mb MB + nvidia-* libraries, about 5 GB installed)"
  fi
  # With its dependencies (the CUDA libraries of a CUDA build), pinned by the lock where it pins them; by
  # requirement from a find-links folder, not as a file, so that pip freeze names no temporary path.
  pip_run "$py" -m pip install --quiet -c constraints.txt ${index_args[@]+"${index_args[@]}"} --find-links "$tmp/torch" \
    "torch==$version"
  rm -rf "$tmp/torch"
  have="$(torch_now)"
  [ -n "$have" ] || die "torch $version was installed but does not import"
  echo "= torch: installed $have ($(torch_size))"
fi

# ---- torchvision -------------------------------------------------------------------------------------
# The installed torchvision's version if it imports and its compiled operators load beside this torch (a
# torchvision built for another torch fails here with "operator torchvision::nms does not exist").
vision_now() {
  "$py" -c 'import importlib.metadata as m, torch, torchvision
torchvision.ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
print(m.version("torchvision"))' 2>/dev/null || true
}
# The lock with its torch line set to the torch we have (its local label included), so that no step
# below may replace it; its torchvision line likewise once that is settled.
sed "s/^torch==.*/torch==$have/" constraints.txt >"$tmp/constraints.txt"
[ "$(grep -c "^torch==$have\$" "$tmp/constraints.txt")" = 1 ] || die "constraints.txt must pin torch on one line"
vision_dist() { "$py" -c 'import importlib.metadata as m; print(m.version("torchvision"))' 2>/dev/null || true; }
vision="$(vision_now)"
if [ "$TORCHVISION" = skip ]; then
  echo "= torchvision: skipped (TORCHVISION=skip)${vision:+; the installed $vision stays}"
elif [ -n "$vision" ]; then
  echo "= torchvision: keeping the installed $vision (it works with torch $have)"
else
  public="${have%%+*}"
  label="${have#"$public"}"; label="${label#+}"
  if [ "$public" = "$TORCH_VERSION" ]; then
    want="torchvision==$TORCHVISION_VERSION"
  else  # another torch (a kept one): the torchvision release made for it, not the locked one
    minor="$(echo "$public" | cut -d. -f2)"
    want="torchvision==0.$((minor + 15)).*"
    sed -i '/^torchvision==/d' "$tmp/constraints.txt"
  fi
  vision_index=()
  if [ -n "$label" ]; then  # a +cpu / +cu130 / +rocm torch: its torchvision lies on PyTorch's index for that label
    url="${TORCH_CPU_INDEX%/cpu}/$label"
    [ "$label" = cpu ] && url="$TORCH_CPU_INDEX"
    if [ -n "$url" ] && [ "$url" != "/$label" ] && answers "$url"; then
      vision_index=(--extra-index-url "$url")
      echo "= torchvision: torch is a +$label build: also asking $url"
    else
      echo "= torchvision: torch is a +$label build and PyTorch's index for it is not reachable: trying pip's own"
    fi
  fi
  before="$(vision_dist)"
  pip_run "$py" -m pip install --quiet -c "$tmp/constraints.txt" ${vision_index[@]+"${vision_index[@]}"} \
    "torch==$have" "$want" || die "pip could not install $want beside torch $have (above). TORCHVISION=skip installs without it"
  vision="$(vision_now)"
  if [ -z "$vision" ]; then
    bad="$(vision_dist)"
    fix="Install the torchvision built for this torch from the index that torch came from, or TORCH=default for the tested pair torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION, or TORCHVISION=skip to go without"
    [ "$bad" = "$before" ] && die "the installed torchvision ${bad:-?} does not work with torch $have (torchvision.ops.nms fails) and pip kept it. $fix"
    run "$py" -m pip uninstall --quiet --yes torchvision
    die "torchvision ${bad:-?} was installed but does not work with torch $have (torchvision.ops.nms fails), so it was removed again. $fix"
  fi
  echo "= torchvision: installed $vision"
fi
[ "$(torch_now)" = "$have" ] || die "torch changed from $have to $(torch_now) while installing torchvision"
if [ -n "$vision" ]; then
  sed -i "/^torchvision==/d" "$tmp/constraints.txt"
  echo "torchvision==$vision" >>"$tmp/constraints.txt"
fi

# ---- lmms-eval's imports, lmms-eval, this package ---------------------------------------------------
if ! pip_run "$py" -m pip install --quiet -c "$tmp/constraints.txt" "torch==$have" "${LMMS_EVAL_DEPS[@]}"; then
  die "the lock (constraints.txt) does not fit around torch $have. To add only this package to an existing lmms-eval environment, touching nothing else: pip install -e ."
fi
pip_run "$py" -m pip install --quiet -c "$tmp/constraints.txt" --no-deps "lmms-eval==$LMMS_EVAL_VERSION" "${NO_DEPS_PACKAGES[@]}"
pip_run "$py" -m pip install --quiet -c "$tmp/constraints.txt" -e ".[test${EXTRAS:+,$EXTRAS}]"
run "$py" -c "import lmms_eval.models, proactivebench_ext.lmms.registration as r; print('ok: lmms-eval tasks at', r.tasks_path())"
[ "$(torch_now)" = "$have" ] || die "torch changed from $have to $(torch_now) during the install"
[ "$(vision_now)" = "$vision" ] || die "torchvision changed from ${vision:-none} to $(vision_now) during the install"
echo "= done: torch $have ($(torch_size))${vision:+, torchvision $vision}"
[ "$mode" = venv ] && echo "= .venv: $(du -sh .venv | cut -f1)"
exit 0
