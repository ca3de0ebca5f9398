#!/usr/bin/env bash
# Validates the deployment files without a Docker engine or a cluster:
#   docker-compose.yml  with docker-compose 1.29.2's `config` (its schema check;
#                       the compose plugin cannot be installed here)
#   deploy/kubernetes   with kubernetes-validate (the Kubernetes API schemas,
#                       offline; the operators' kinds — KafkaTopic,
#                       ClickHouseInstallation, HTTPRoute — have no schema there
#                       and are reported, not checked) and yamllint
# Tools are installed from PyPI into .cache/lint on first use.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="$ROOT/.cache/lint"
mkdir -p "$VENVS"

venv() { # venv NAME PACKAGES... (installed once)
  local dir="$VENVS/$1"; shift
  if [ ! -x "$dir/bin/python" ] || [ ! -f "$dir/.done" ]; then
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install -q --disable-pip-version-check "$@"
    touch "$dir/.done"
  fi
}

# docker-compose 1.29.2 needs PyYAML 5.4, which only builds with Cython < 3.
if [ ! -f "$VENVS/compose/.done" ]; then
  rm -rf "$VENVS/compose"
  python3 -m venv "$VENVS/compose"
  "$VENVS/compose/bin/pip" install -q --disable-pip-version-check "cython<3" wheel setuptools
  "$VENVS/compose/bin/pip" install -q --disable-pip-version-check --no-build-isolation pyyaml==5.4.1
  "$VENVS/compose/bin/pip" install -q --disable-pip-version-check docker-compose==1.29.2
  touch "$VENVS/compose/.done"
fi
venv k8s kubernetes-validate==1.37.0 yamllint==1.38.0

echo "lint: docker-compose.yml"
(cd "$ROOT" && "$VENVS/compose/bin/docker-compose" -f docker-compose.yml config -q)
echo "lint: docker-compose.yml valid ($("$VENVS/compose/bin/docker-compose" -f "$ROOT/docker-compose.yml" config --services | tr '\n' ' '))"

echo "lint: deploy/kubernetes"
cd "$ROOT/deploy/kubernetes"
"$VENVS/k8s/bin/yamllint" -s -d "{extends: relaxed, rules: {line-length: {max: 160}}}" . "$ROOT/docker-compose.yml"
mapfile -t manifests < <(ls ./*.yaml | grep -v kustomization.yaml)
"$VENVS/k8s/bin/kubernetes-validate" --strict --quiet "${manifests[@]}"
echo "lint: deploy/kubernetes valid (${#manifests[@]} files; operator kinds not schema-checked)"
