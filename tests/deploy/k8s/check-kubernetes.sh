#!/usr/bin/env bash
# Checks of deploy/kubernetes (ctest -R deploy.kubernetes; tests/deploy/k8s/k8s_tests.cmake):
#
#   check-kubernetes.sh SOURCE_DIR CACHE_DIR validate
#       renders the base and overlays/example with `kubectl kustomize` and
#       validates every object (validate-manifests.mjs: Kubernetes 1.34 schema,
#       ServiceMonitor CRD schema, no unknown fields, djinnd's own rules)
#   check-kubernetes.sh SOURCE_DIR CACHE_DIR rejects-broken
#       the same validation must reject deliberately broken variants of the
#       example overlay, each for its own reason, and pass the unbroken copy
#   check-kubernetes.sh SOURCE_DIR CACHE_DIR flagfile DJINND DJINNCTL
#       starts djinnd with the flags file of the rendered example (its
#       preloads written as tiny test models; CPU, loopback and a small
#       budget set after it), waits until it is ready, checks the health
#       service the probes use and the preloaded models over a dns:/// target
#       (round_robin), and stops it with SIGTERM (exit status 0)
#
# CACHE_DIR keeps node_modules and, where needed, kubectl (tools.sh installs
# them). What the manifests must agree with is read from the sources: the
# health service name (daemon/djinnd/main.cc), djinnd's flags
# (daemon/djinnd/daemon_flags.cc), the image's binary and flags file
# (deploy/docker/Dockerfile), the job the alerts select
# (deploy/prometheus/rules/djinn-alerts.yml).
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 SOURCE_DIR CACHE_DIR validate|rejects-broken|flagfile [DJINND DJINNCTL]" >&2
  exit 2
fi
SOURCE=$(cd "$1" && pwd)
MODE=$3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/tools.sh"
deploy_tools_init "$2"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/djinn-k8s-check.XXXXXX")
DAEMON_PID=""
cleanup() {
  if [ -n "$DAEMON_PID" ]; then kill -KILL "$DAEMON_PID" 2> /dev/null || true; fi
  rm -rf "$WORK"
  if [ -n "${RUN_DIR:-}" ]; then rm -rf "$RUN_DIR"; fi
}
trap cleanup EXIT

ensure_kubectl
ensure_npm_deps
# The validator runs from inside the npm directory so that Node finds
# node_modules; a copy per run, as ctest runs checks in parallel.
RUN_DIR=$(mktemp -d "$NPM_DIR/run.XXXXXX")
cp "$HERE/validate-manifests.mjs" "$RUN_DIR/"
validate() { node "$RUN_DIR/validate-manifests.mjs" "$@"; }

render() {  # render DIR OUT
  echo "+ kubectl kustomize ${1#"$WORK"/}" >&2
  "$KUBECTL" kustomize "$1" > "$2"
}

# What the manifests must agree with, from the sources.
djinn_options() {
  local health flags job binary flagfile
  health=$(sed -n 's/.*constexpr char kServiceName\[\] = "\([^"]*\)".*/\1/p' "$SOURCE/daemon/djinnd/main.cc")
  [ -n "$health" ] || fail "no kServiceName in daemon/djinnd/main.cc: where does djinnd name its health service now?"
  flags=$(grep -o 'ABSL_FLAG([^,]*, *[a-z_0-9]*' "$SOURCE/daemon/djinnd/daemon_flags.cc" | sed 's/.*, *//' | sort -u)
  [ "$(wc -l <<< "$flags")" -ge 5 ] || fail "found only these flags in daemon/djinnd/daemon_flags.cc: $flags"
  # Abseil's own flags, accepted by every binary that parses with it.
  flags="$flags flagfile fromenv tryfromenv undefok"
  job=$(grep -o 'job="[^"]*"' "$SOURCE/deploy/prometheus/rules/djinn-alerts.yml" | sort -u)
  [ "$(wc -l <<< "$job")" = 1 ] && [ -n "$job" ] || fail "expected one job=\"...\" in deploy/prometheus/rules/djinn-alerts.yml, found: $job"
  job=${job#job=\"}
  job=${job%\"}
  binary=$(sed -n 's/^ENTRYPOINT \["\([^"]*\)".*/\1/p' "$SOURCE/deploy/docker/Dockerfile")
  flagfile=$(sed -n 's/^ENTRYPOINT \[.*"--flagfile=\([^"]*\)".*/\1/p' "$SOURCE/deploy/docker/Dockerfile")
  [ -n "$binary" ] && [ -n "$flagfile" ] || fail "no ENTRYPOINT [\"BINARY\", \"--flagfile=PATH\"] in deploy/docker/Dockerfile"
  python3 -c 'import json, sys; print(json.dumps({"healthService": sys.argv[1], "knownFlags": sys.argv[2].split(),
              "job": sys.argv[3], "binary": sys.argv[4], "flagfile": sys.argv[5]}))' \
    "$health" "$flags" "$job" "$binary" "$flagfile"
}

case "$MODE" in
  validate)
    OPTIONS=$(djinn_options)
    echo "djinnd: $OPTIONS"
    render "$SOURCE/deploy/kubernetes/base" "$WORK/base.yaml"
    render "$SOURCE/deploy/kubernetes/overlays/example" "$WORK/example.yaml"
    validate --djinn "$OPTIONS" "$WORK/base.yaml" "$WORK/example.yaml" | tee "$WORK/out.txt"
    [ "${PIPESTATUS[0]}" = 0 ] || fail "the rendered manifests do not validate"
    # What the example overlay sets must be in its rendering.
    grep -q 'image: registry.example.com/djinn:' "$WORK/example.yaml" || fail "example: image not set"
    grep -q -- '--model=llama-3.1-70b=' "$WORK/example.yaml" || fail "example: no preload"
    grep -q -- '--vram_budget=72GiB' "$WORK/example.yaml" || fail "example: no budget"
    grep -q 'replicas: 2' "$WORK/example.yaml" || fail "example: replicas not set"
    grep -q 'nvidia.com/gpu.product: ' "$WORK/example.yaml" || fail "example: no node selector"
    grep -c '^kind: ' "$WORK/example.yaml" | grep -qx 9 || fail "example: expected 9 objects"
    ;;

  rejects-broken)
    OPTIONS=$(djinn_options)
    cp -r "$SOURCE/deploy/kubernetes" "$WORK/kubernetes"
    overlays=$WORK/kubernetes/overlays
    # NAME|EXPECTED ERROR (a substring of the validator's line for that file)
    cases=(
      "port-type|Deployment/djinnd: schema: data/spec/template/spec/containers/0/readinessProbe/grpc/port must be integer"
      "unknown-field|Deployment/djinnd: strict: Object literal may only specify known properties, and '\"readOnlyRootFileSystem\"' does not exist"
      "servicemonitor-schema|ServiceMonitor/djinnd: schema: data/spec/endpoints/0/interval must be string"
      "servicemonitor-unknown-field|ServiceMonitor/djinnd: strict: Object literal may only specify known properties, and '\"intervall\"' does not exist"
      "unknown-kind|no schema for apiVersion monitoring.coreos.com/v1 kind PodMonitorr"
      "probe-service|readinessProbe checks service \"djinn.v2.Djinn\""
      "dashed-flag|flags file: unknown flag --vram-budget"
      "grace|terminationGracePeriodSeconds 20 is not above preStop 5 s + --shutdown_grace 30 s"
    )
    new_case() {  # new_case NAME: an overlay on top of the example
      mkdir -p "$overlays/$1"
      printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../example\n' > "$overlays/$1/kustomization.yaml"
    }
    patch_deployment() {  # patch_deployment NAME YAML-OF-THE-CONTAINER
      printf 'patches:\n  - path: patch.yaml\n' >> "$overlays/$1/kustomization.yaml"
      printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: djinnd\nspec:\n  template:\n    spec:\n%s\n' "$2" > "$overlays/$1/patch.yaml"
    }
    json_patch() {  # json_patch NAME KIND PATCH
      printf 'patches:\n  - target:\n      kind: %s\n    patch: |-\n%s\n' "$2" "$(sed 's/^/      /' <<< "$3")" >> "$overlays/$1/kustomization.yaml"
    }
    new_case port-type
    json_patch port-type Deployment '- op: replace
  path: /spec/template/spec/containers/0/readinessProbe/grpc/port
  value: "50051"'
    new_case unknown-field
    patch_deployment unknown-field '      containers:
        - name: djinnd
          securityContext:
            readOnlyRootFileSystem: true'
    new_case servicemonitor-schema
    json_patch servicemonitor-schema ServiceMonitor '- op: replace
  path: /spec/endpoints/0/interval
  value: 15'
    new_case servicemonitor-unknown-field
    json_patch servicemonitor-unknown-field ServiceMonitor '- op: add
  path: /spec/endpoints/0/intervall
  value: 15s'
    new_case unknown-kind
    json_patch unknown-kind ServiceMonitor '- op: replace
  path: /kind
  value: PodMonitorr'
    new_case probe-service
    json_patch probe-service Deployment '- op: replace
  path: /spec/template/spec/containers/0/readinessProbe/grpc/service
  value: djinn.v2.Djinn'
    new_case dashed-flag
    sed 's/^--vram_budget=/--vram-budget=/' "$overlays/example/djinnd.flags" > "$overlays/dashed-flag/djinnd.flags"
    printf 'configMapGenerator:\n  - name: djinnd-flags\n    behavior: replace\n    files:\n      - djinnd.flags\n' >> "$overlays/dashed-flag/kustomization.yaml"
    new_case grace
    json_patch grace Deployment '- op: replace
  path: /spec/template/spec/terminationGracePeriodSeconds
  value: 20'

    files=()
    render "$overlays/example" "$WORK/example.yaml"
    for c in "${cases[@]}"; do
      name=${c%%|*}
      render "$overlays/$name" "$WORK/$name.yaml"
      files+=("$WORK/$name.yaml")
    done
    set +e
    validate --djinn "$OPTIONS" "$WORK/example.yaml" "${files[@]}" > "$WORK/out.txt"
    status=$?
    set -e
    cat "$WORK/out.txt"
    [ "$status" = 1 ] || fail "the validator exited $status on broken manifests, expected 1"
    grep -qx "$WORK/example.yaml: ok (9 objects)" "$WORK/out.txt" || fail "the unbroken copy of the example did not validate"
    for c in "${cases[@]}"; do
      name=${c%%|*}
      want=${c#*|}
      grep -F "$WORK/$name.yaml: " "$WORK/out.txt" | grep -qF -- "$want" ||
        fail "broken case $name: no error containing: $want"
      echo "rejected as expected: $name"
    done
    ;;

  flagfile)
    [ $# = 5 ] || fail "flagfile needs DJINND and DJINNCTL"
    DJINND=$4
    DJINNCTL=$5
    OPTIONS=$(djinn_options)
    HEALTH=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["healthService"])' "$OPTIONS")
    render "$SOURCE/deploy/kubernetes/overlays/example" "$WORK/example.yaml"
    validate --print-flagfile "$WORK/example.yaml" > "$WORK/djinnd.flags"
    echo "--- the example's flags file, as the container reads it"
    cat "$WORK/djinnd.flags"
    echo "---"
    # The preloads, as tiny random-weight models at their paths under a
    # model root of our own.
    models=$(sed -n 's/^--model=//p' "$WORK/djinnd.flags")
    [ -n "$models" ] || fail "the example preloads no model"
    names=()
    IFS=, read -r -a specs <<< "$models"
    for spec in "${specs[@]}"; do
      names+=("${spec%%=*}")
      "$DJINNCTL" make-test-model --preset tiny --seed 1 --out "$WORK/models/${spec#*=}" > /dev/null
    done
    . "$SOURCE/scripts/wait-ready.sh"
    argv=("$DJINND" "--flagfile=$WORK/djinnd.flags" --device=cpu --vram_budget=256MiB
          --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 "--model_root=$WORK/models")
    echo "+ ${argv[*]}"
    "${argv[@]}" 2> "$WORK/djinnd.log" &
    DAEMON_PID=$!
    line=$(wait_for_ready "$WORK/djinnd.log" "$DAEMON_PID" 60) || fail "djinnd did not get ready with the example's flags"
    port=$(ready_port "$line" grpc)
    target="dns:///localhost:$port"
    out=$("$DJINNCTL" --addr "$target" --timeout 10 health --service "$HEALTH") || fail "health $HEALTH: $out"
    [ "$out" = SERVING ] || fail "health --service $HEALTH printed '$out'"
    out=$("$DJINNCTL" --addr "$target" --timeout 10 health) || fail "health (server): $out"
    "$DJINNCTL" --addr "$target" --timeout 10 list --json > "$WORK/list.json"
    for name in "${names[@]}"; do
      grep -q "\"$name\"" "$WORK/list.json" || fail "model $name was not preloaded: $(cat "$WORK/list.json")"
    done
    echo "ready; health $HEALTH SERVING; preloaded: ${names[*]} (over $target)"
    kill -TERM "$DAEMON_PID"
    set +e
    wait "$DAEMON_PID"
    status=$?
    set -e
    DAEMON_PID=""
    grep -q '"msg":"stopped"' "$WORK/djinnd.log" || fail "no stopped line in the log: $(cat "$WORK/djinnd.log")"
    [ "$status" = 0 ] || fail "djinnd exited $status after SIGTERM: $(cat "$WORK/djinnd.log")"
    echo "stopped on SIGTERM with exit status 0"
    ;;

  *)
    fail "unknown mode $MODE"
    ;;
esac
echo "ok: deploy.kubernetes $MODE"
