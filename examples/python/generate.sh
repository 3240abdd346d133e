#!/usr/bin/env bash
# Creates a virtual environment in .venv, installs the pinned gRPC packages and
# generates the Python stubs of Sofer's API from ../../proto into ./sofer/v1/.
# Run it again after the protos change. Needs Python 3.9 or newer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PYTHON="${PYTHON:-python3}"
GRPC_VERSION=1.85.1

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet \
    "grpcio==${GRPC_VERSION}" \
    "grpcio-tools==${GRPC_VERSION}" \
    "grpcio-status==${GRPC_VERSION}" \
    "grpcio-health-checking==${GRPC_VERSION}"

# The stubs import each other as `sofer.v1.*_pb2`, so they go in a `sofer/v1/`
# package next to sofer_client.py.
rm -rf sofer
.venv/bin/python -m grpc_tools.protoc \
    -I ../../proto \
    --python_out=. \
    --pyi_out=. \
    --grpc_python_out=. \
    ../../proto/sofer/v1/*.proto
touch sofer/__init__.py sofer/v1/__init__.py

echo "generated: $(ls sofer/v1/*.py | tr '\n' ' ')"
echo "run: .venv/bin/python sofer_client.py --target 127.0.0.1:50051"
