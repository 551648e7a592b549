#!/usr/bin/env bash
# Runs the GPU-only tests (not part of CTest) and keeps their logs.
#
#   tests/gpu/run.sh DIR [gtest args...]
#       DIR is a build tree configured with CUDA (e.g. build-cuda, binary in
#       DIR/tests/gpu/) or a directory made by --pack (binary in DIR/bin/,
#       libraries in DIR/lib/). Writes DIR/gpu-test-logs/<time>/{test.log,
#       results.xml} (or $OUT/... when OUT is set) and exits with the test's
#       status.
#   tests/gpu/run.sh --pack BUILD_DIR PACK_DIR
#       Copies the test binary and every non-system shared library it loads
#       (Abseil, protobuf, ...: the GPU host has none of them) into
#       PACK_DIR/{bin,lib}, plus this script. CUDA toolkit libraries
#       (libcudart, libcublas*) are left to the GPU host's toolkit unless
#       DJINN_PACK_CUDA=1.
#
# On a GPU host, from the repository root, after
#   cmake -S . -B build-cuda -G Ninja -DDJINN_CUDA=ON && ninja -C build-cuda gpu_backend_ops_test
# run
#   tests/gpu/run.sh build-cuda
# or, when the host lacks the build's libraries: on the build machine
#   tests/gpu/run.sh --pack build-cuda gpu-pack
# then copy gpu-pack/ over and run `gpu-pack/run.sh gpu-pack`.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "${1:-}" = "--pack" ]; then
  [ $# -eq 3 ] || { echo "usage: $0 --pack BUILD_DIR PACK_DIR" >&2; exit 2; }
  set -e
  "$here/../../scripts/pack-binary.sh" "$2/tests/gpu/gpu_backend_ops_test" "$3"
  cp "$here/run.sh" "$3/run.sh"
  echo "run: $3/run.sh $3"
  exit 0
fi

[ $# -ge 1 ] || { echo "usage: $0 DIR [gtest args...]  |  $0 --pack BUILD_DIR PACK_DIR" >&2; exit 2; }
dir=$(cd "$1" && pwd)
shift
if [ -x "$dir/tests/gpu/gpu_backend_ops_test" ]; then
  binary=$dir/tests/gpu/gpu_backend_ops_test
elif [ -x "$dir/bin/gpu_backend_ops_test" ]; then
  binary=$dir/bin/gpu_backend_ops_test
  export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  echo "run.sh: no gpu_backend_ops_test under $dir/tests/gpu or $dir/bin" >&2
  exit 1
fi
# The toolkit's libraries, where the binary does not carry them.
for cuda_lib in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$cuda_lib" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$cuda_lib"
done

logs=${OUT:-$dir}/gpu-test-logs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs"
{
  echo "== $(date -u)  $binary"
  nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv 2>&1 || echo "(no nvidia-smi)"
  ldd "$binary" | grep -E "not found|cudart|cublas" || true
} > "$logs/env.txt"
cat "$logs/env.txt"
"$binary" --gtest_output="xml:$logs/results.xml" "$@" 2>&1 | tee "$logs/test.log"
status=${PIPESTATUS[0]}
echo "run.sh: exit $status; logs in $logs"
exit "$status"
