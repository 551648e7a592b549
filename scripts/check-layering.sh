#!/usr/bin/env bash
# The layers of the tree, and which may include which. Every build runs this
# (the check_layering target) and fails when a file reaches past its layer:
#
#   common/            shared by daemon and clients: includes no daemon/ file
#   daemon/backend/    the Backend interface and the backends: no engine,
#                      memory, core, server or generated API code
#   daemon/memory/     the arena: common/ only
#   daemon/engine/     the engine: the Backend interface, never a backend
#                      (cpu/, cuda/, create_backend.h), nor core, server or gRPC
#   daemon/core/       the core API: no server, gRPC or generated API code
#
#   scripts/check-layering.sh [ROOT]     # exit 1 and name each violation
set -euo pipefail
ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$ROOT"

status=0
# forbid DIR PATTERN WHY: no file under DIR may have an #include matching PATTERN.
forbid() {
  local dir=$1 pattern=$2 why=$3
  [ -d "$dir" ] || return 0
  local hits
  hits=$(grep -rnE --include='*.h' --include='*.cc' --include='*.cu' --include='*.cuh' \
           "^[[:space:]]*#[[:space:]]*include[[:space:]]+[<\"]($pattern)" "$dir" || true)
  if [ -n "$hits" ]; then
    echo "check-layering: $dir must not include $pattern ($why):" >&2
    echo "$hits" >&2
    status=1
  fi
}

forbid common 'daemon/' 'common/ is below the daemon'
forbid daemon/backend 'daemon/(engine|memory|core|server|djinnd)/|djinn/v1/|grpc' \
  'backends see only the Backend interface and common/'
forbid daemon/memory 'daemon/(backend|engine|core|server|djinnd)/|djinn/v1/|grpc' 'the arena stands alone'
forbid daemon/engine 'daemon/backend/(cpu|cuda)/|daemon/backend/create_backend\.h|daemon/(core|server|djinnd)/|djinn/v1/|grpc' \
  'the engine links only the Backend interface'
forbid daemon/core 'daemon/(server|djinnd)/|djinn/v1/|grpc' 'front-ends sit on the core, not in it'

exit $status
