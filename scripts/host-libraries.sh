# shellcheck shell=bash
# Sourced by package.sh and check-package.sh: the one rule for which shared
# libraries a release package leaves to the host (see package.sh for why).
#   is_host_library SONAME_OR_PATH  -> 0 if the host provides it
is_host_library() {
  case "$(basename "$1")" in
    linux-vdso.so.* | linux-gate.so.* | ld-linux*.so.* | ld64.so.*) return 0 ;;
    libc.so.* | libm.so.* | libmvec.so.* | libpthread.so.* | libdl.so.* | librt.so.*) return 0 ;;
    libresolv.so.* | libutil.so.* | libanl.so.* | libnsl.so.* | libnss_*.so.* | libBrokenLocale.so.*) return 0 ;;
    libthread_db.so.* | libc_malloc_debug.so.*) return 0 ;;
    libstdc++.so.* | libgcc_s.so.*) return 0 ;;
    libcuda.so.* | libnvidia-*.so.*) return 0 ;;
  esac
  return 1
}
