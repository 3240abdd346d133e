#!/usr/bin/env bash
# Peer tooling: llama.cpp (via llama-cpp-python's vendored tree) for references and benchmarks.
#
# Creates $VENV (default <repo>/.venv) with numpy, gguf, cmake, ninja and llama-cpp-python built from
# the sdist WITHOUT AMX, then builds llama-bench and llama-batched-bench from the same vendored
# llama.cpp tree into $PEER_DIR (default /work/peer/lcpp-noamx, binaries in $PEER_DIR/bin).
#
# Why no AMX: llama.cpp 0c1e57098 built with GGML_NATIVE=ON on AMX-capable Xeons segfaults in
# ggml_backend_amx_mul_mat on quantized GGUFs; builds without AMX use the plain AVX-512 kernels.
#
# Env overrides: VENV, PEER_DIR, LCPP_PY_VERSION (default 0.3.36), JOBS (default 2), WORK (sdist dir).
# Idempotent: skips steps whose results are already present (delete them to rebuild).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PEER_DIR="${PEER_DIR:-/work/peer/lcpp-noamx}"
VERSION="${LCPP_PY_VERSION:-0.3.36}"
JOBS="${JOBS:-2}"
WORK="${WORK:-$(dirname "$PEER_DIR")/src}"
NOAMX="-mno-amx-int8 -mno-amx-tile -mno-amx-bf16"

log() { echo "[setup_llamacpp] $*" >&2; }

# 1. venv + build tools
if [ ! -x "$VENV/bin/python" ]; then
    log "creating venv $VENV"
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet numpy gguf cmake ninja
export PATH="$VENV/bin:$PATH"

# 2. llama-cpp-python sdist
mkdir -p "$WORK"
SDIST="$WORK/llama_cpp_python-$VERSION.tar.gz"
if [ ! -f "$SDIST" ]; then
    log "downloading llama-cpp-python==$VERSION sdist"
    "$PY" -m pip download --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VERSION" -d "$WORK"
fi
[ -f "$SDIST" ] || { log "ERROR: $SDIST not found after download"; exit 1; }
SRC="$WORK/llama_cpp_python-$VERSION"
if [ ! -d "$SRC/vendor/llama.cpp" ]; then
    tar xzf "$SDIST" -C "$WORK"
fi

# 3. llama-cpp-python, no AMX
have_version="$("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)' 2>/dev/null || true)"
if [ "$have_version" != "$VERSION" ]; then
    log "building llama-cpp-python $VERSION (no AMX, -j$JOBS); this takes a while"
    export CMAKE_ARGS="-DGGML_NATIVE=ON -DCMAKE_C_FLAGS='$NOAMX' -DCMAKE_CXX_FLAGS='$NOAMX' -DLLAVA_BUILD=OFF"
    export CMAKE_BUILD_PARALLEL_LEVEL="$JOBS"
    "$PY" -m pip install --verbose "$SRC"
else
    log "llama-cpp-python $VERSION already installed"
fi
"$PY" -c 'import llama_cpp; print("llama_cpp", llama_cpp.__version__)'

# 4. llama-bench and llama-batched-bench from the same vendored tree, no AMX
if [ ! -x "$PEER_DIR/bin/llama-bench" ] || [ ! -x "$PEER_DIR/bin/llama-batched-bench" ]; then
    log "building llama-bench and llama-batched-bench into $PEER_DIR (-j$JOBS)"
    cmake -S "$SRC/vendor/llama.cpp" -B "$PEER_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DGGML_NATIVE=ON -DCMAKE_C_FLAGS="$NOAMX" -DCMAKE_CXX_FLAGS="$NOAMX" \
        -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF
    cmake --build "$PEER_DIR" -j"$JOBS" --target llama-bench llama-batched-bench
else
    log "llama-bench and llama-batched-bench already built"
fi
"$PEER_DIR/bin/llama-bench" --help >/dev/null 2>&1 || { log "ERROR: llama-bench does not run"; exit 1; }
echo "venv:        $VENV"
echo "llama-bench: $PEER_DIR/bin/llama-bench"
echo "llama-batched-bench: $PEER_DIR/bin/llama-batched-bench"
