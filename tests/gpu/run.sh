#!/usr/bin/env bash
# Runs the GPU op tests (not part of CTest) and keeps their logs:
#   gpu_backend_conformance_test  the backend conformance suite (tests/backend/)
#                                 on every backend: "cpu" and "cuda"
#   gpu_backend_ops_test          what only the CUDA backend promises, and
#                                 kernel timings
#   gpu_weight_ring_test          the weight ring (tests/unit/weight_ring_test.cc)
#                                 on every backend
#
#   tests/gpu/run.sh DIR [gtest args...]
#       DIR is a build tree configured with CUDA (e.g. build-cuda, binaries in
#       DIR/tests/gpu/) or a directory made by --pack (binaries in DIR/bin/,
#       libraries in DIR/lib/). Runs each binary with the gtest args; writes
#       DIR/gpu-test-logs/<time>/{env.txt,<binary>.log,<binary>.xml} (or
#       $OUT/... when OUT is set) and exits non-zero if any binary failed,
#       after running them all.
#   tests/gpu/run.sh --pack BUILD_DIR PACK_DIR
#       Copies the test binaries and every non-system shared library they load
#       (Abseil, protobuf, ...: the GPU host has none of them) into
#       PACK_DIR/{bin,lib}, plus this script. CUDA toolkit libraries
#       (libcudart, libcublas*) are left to the GPU host's toolkit unless
#       DJINN_PACK_CUDA=1.
#
# On a GPU host, from the repository root, after
#   cmake -S . -B build-cuda -G Ninja -DDJINN_CUDA=ON &&
#     ninja -C build-cuda gpu_backend_conformance_test gpu_backend_ops_test gpu_weight_ring_test
# run
#   tests/gpu/run.sh build-cuda
# or, when the host lacks the build's libraries: on the build machine
#   tests/gpu/run.sh --pack build-cuda gpu-pack
# then copy gpu-pack/ over and run `gpu-pack/run.sh gpu-pack`.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
binaries=(gpu_backend_conformance_test gpu_backend_ops_test gpu_weight_ring_test)

if [ "${1:-}" = "--pack" ]; then
  [ $# -eq 3 ] || { echo "usage: $0 --pack BUILD_DIR PACK_DIR" >&2; exit 2; }
  set -e
  for name in "${binaries[@]}"; do
    "$here/../../scripts/pack-binary.sh" "$2/tests/gpu/$name" "$3"
  done
  cp "$here/run.sh" "$3/run.sh"
  echo "run: $3/run.sh $3"
  exit 0
fi

[ $# -ge 1 ] || { echo "usage: $0 DIR [gtest args...]  |  $0 --pack BUILD_DIR PACK_DIR" >&2; exit 2; }
dir=$(cd "$1" && pwd)
shift
if [ -x "$dir/tests/gpu/${binaries[0]}" ]; then
  bin_dir=$dir/tests/gpu
elif [ -x "$dir/bin/${binaries[0]}" ]; then
  bin_dir=$dir/bin
  export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  echo "run.sh: no ${binaries[0]} under $dir/tests/gpu or $dir/bin" >&2
  exit 1
fi
# The toolkit's libraries, where the binaries do not carry them.
for cuda_lib in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$cuda_lib" ] && export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$cuda_lib"
done

logs=${OUT:-$dir}/gpu-test-logs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$logs"
{
  echo "== $(date -u)  $bin_dir"
  nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv 2>&1 || echo "(no nvidia-smi)"
  ldd "$bin_dir/${binaries[0]}" | grep -E "not found|cudart|cublas" || true
} > "$logs/env.txt"
cat "$logs/env.txt"
status=0
for name in "${binaries[@]}"; do
  if [ ! -x "$bin_dir/$name" ]; then
    echo "run.sh: $bin_dir/$name missing" >&2
    status=1
    continue
  fi
  echo "== $name"
  "$bin_dir/$name" --gtest_output="xml:$logs/$name.xml" "$@" 2>&1 | tee "$logs/$name.log"
  result=${PIPESTATUS[0]}
  echo "run.sh: $name exit $result"
  [ "$result" = 0 ] || status=$result
done
echo "run.sh: exit $status; logs in $logs"
exit "$status"
