#!/usr/bin/env bash
# Validates deploy/ offline: renders every kustomization under deploy/k8s, checks each object
# against the Kubernetes OpenAPI schemas (kubernetes-validate, which bundles them) strictly,
# checks the invariants schemas cannot see, lints deploy/Dockerfile, and breaks copies of the
# manifests to check that each kind of mistake is caught (--self-test). Needs only python3 with
# venv and pip, and PyPI the first time: no kubectl, kustomize or docker. Run by .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${SOFER_DEPLOY_VENV:-target/deploy-venv}
# Pinned, dependencies included, so that every run validates against the same schemas.
PINS=(
  kubernetes-validate==1.37.0
  PyYAML==6.0.4
  jsonschema==4.26.0
  jsonschema-specifications==2025.9.1
  referencing==0.37.0
  rpds-py==2026.9.1
  attrs==26.1.0
  importlib_resources==7.1.0
  packaging==26.4
  typing_extensions==4.16.0
  'tomli==2.2.1; python_version < "3.11"'
)
STAMP="$VENV/.sofer-pins"
if [[ ! -x "$VENV/bin/python" || "$(cat "$STAMP" 2>/dev/null)" != "${PINS[*]}" ]]; then
  echo "validate_deploy: setting up $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "${PINS[@]}"
  printf '%s' "${PINS[*]}" >"$STAMP"
fi
exec "$VENV/bin/python" scripts/validate_deploy.py --self-test "$@"
