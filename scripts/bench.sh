#!/usr/bin/env bash
# The side-by-side benchmark in one command: sets up the model and the two Python peers
# (instructor 1.9.0 and 1.17.0, each with llama-cpp-python 0.3.36 built from source, in
# git-ignored virtual environments of this clone), then runs bench/ (`peer_bench`), which prints
# Markdown tables. Arguments go to peer_bench, e.g.:
#
#   scripts/bench.sh                       # 5 rounds, 2 threads, the latest instructor 1 round
#   scripts/bench.sh --rounds 3 --cases user_detail,order
#   scripts/bench.sh --model qwen2.5-0.5b  # the second model (installed first, ~490 MB once)
#
# Run nothing else on the machine meanwhile: llama.cpp's threads collapse when another process
# takes a core, and both sides are measured with the same thread count.
set -euo pipefail
cd "$(dirname "$0")/.."
# A known model name given to peer_bench (`--model qwen2.5-0.5b`) is installed first as well.
setup_args=(--peer)
prev=""
for arg in "$@"; do
  if [ "$prev" = "--model" ] && [[ "$arg" != */* && "$arg" != *.gguf ]]; then
    setup_args+=(--model "$arg")
  fi
  prev="$arg"
done
scripts/setup.sh "${setup_args[@]}"
exec cargo run -q -p instructor-bench -- "$@"
