# shellcheck shell=bash
# Sourced by the scripts that start djinnd: waits for its readiness log line.
#   wait_for_ready LOG PID TIMEOUT_S
# djinnd logs {"msg":"ready","grpc_port":...,"metrics_port":...} once it
# serves. Prints that line and returns 0; returns 1 (the log on stderr) if the
# daemon exits first or is not ready within TIMEOUT_S seconds.
# ready_port LINE grpc|metrics prints a port from the line.
wait_for_ready() {
  local log=$1 pid=$2 timeout_s=$3 line
  for _ in $(seq $((timeout_s * 10))); do
    line=$(grep -m1 '"msg":"ready"' "$log" || true)
    if [ -n "$line" ]; then
      echo "$line"
      return 0
    fi
    if ! kill -0 "$pid" 2> /dev/null; then
      echo "djinnd exited before it was ready; its log:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "djinnd not ready after ${timeout_s}s; its log:" >&2
  cat "$log" >&2
  return 1
}

ready_port() {
  sed "s/.*\"$2_port\":\([0-9]*\).*/\1/" <<< "$1"
}
