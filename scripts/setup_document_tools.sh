#!/usr/bin/env bash
# Dev only: the real producers and anchors the document scripts use
# (make_document_fixtures.py, document_accuracy.py, document_roundtrip.sh, and
# `cargo test --test documents_docx -- --ignored`). The tests themselves need none of them:
# the fixtures they read are committed.
set -euo pipefail
SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo sudo)
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
    libreoffice-writer-nogui poppler-utils chromium ghostscript pandoc \
    fonts-dejavu-core culmus fonts-noto-core
python3 -m pip install -q reportlab python-docx pikepdf msoffcrypto-tool
