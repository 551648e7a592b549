#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing Djinn needs.
# Skips apt entirely when everything is already there, so it is cheap to call
# from every other script.
#
#   scripts/install-deps.sh            # the packages of the CPU build (always)
#   scripts/install-deps.sh --cuda     # also a CUDA toolkit, to *compile* the
#                                      # CUDA backend (scripts/build-cuda-check.sh)
#
# --cuda is opt-in and meant for build machines without a GPU (the CI). It does
# nothing when a CUDA compiler is already there ($CUDACXX, nvcc on PATH, or
# /usr/local/cuda/bin/nvcc: NVIDIA's own toolkit stays untouched). Otherwise it
# installs Debian 12's nvidia-cuda-toolkit (CUDA 11.8: nvcc, cudart, cuBLAS;
# host compiler g++-11; about 1.6 GB to download, 5.3 GB installed) from
# Debian's non-free component, which it enables for this when it is not yet:
# /etc/apt/sources.list.d/djinn-debian-non-free.sources (contrib non-free of
# the same mirror; DJINN_DEBIAN_MIRROR overrides it). The toolkit depends on
# the driver's libcuda1, so it refuses to run on a host with a loaded NVIDIA
# driver (it would shadow that driver's libcuda): install NVIDIA's toolkit
# there instead, or set DJINN_CUDA_TOOLKIT_FORCE=1.
set -euo pipefail

want_cuda=0
for arg in "$@"; do
  case "$arg" in
    --cuda) want_cuda=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps: unknown argument $arg (usage: $0 [--cuda])" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  build-essential cmake ninja-build pkg-config git python3
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev nlohmann-json3-dev sentencepiece libpcre2-dev libutf8proc-dev
  prometheus-cpp-dev # metrics: prometheus-cpp core and its exposer (pulls in libcivetweb-dev)
  libgtest-dev libgmock-dev googletest
  python3-jinja2 # tests/conformance/chat_template: Jinja2, as transformers renders chat templates
  prometheus curl
)
CUDA_PACKAGES=(nvidia-cuda-toolkit)

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2> /dev/null || true)" = "install ok installed" ]; }

# A CUDA compiler that is already there (NVIDIA's toolkit, or Debian's).
have_nvcc() {
  [ -n "${CUDACXX:-}" ] && [ -x "${CUDACXX%% *}" ] && return 0
  command -v nvcc > /dev/null && return 0
  [ -x /usr/local/cuda/bin/nvcc ]
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
cuda_missing=()
if [ "$want_cuda" = 1 ] && ! have_nvcc; then
  for p in "${CUDA_PACKAGES[@]}"; do
    installed "$p" || cuda_missing+=("$p")
  done
fi
if [ ${#missing[@]} -eq 0 ] && [ ${#cuda_missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo > /dev/null; then
    echo "install-deps: missing ${missing[*]} ${cuda_missing[*]}; run this script as root (or install sudo)" >&2
    exit 1
  fi
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -qq --no-install-recommends -o Acquire::Retries=3)

updated=0
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  updated=1
  $SUDO apt-get install "${APT_OPTS[@]}" "${missing[@]}" > /dev/null
fi

[ ${#cuda_missing[@]} -gt 0 ] || exit 0

# ---- the CUDA toolkit (--cuda), from Debian 12's non-free component ----
if [ -e /proc/driver/nvidia/version ] && [ "${DJINN_CUDA_TOOLKIT_FORCE:-0}" != 1 ]; then
  echo "install-deps: this host has an NVIDIA driver loaded but no nvcc. Debian's" \
       "nvidia-cuda-toolkit would install its own libcuda1 next to that driver;" \
       "install NVIDIA's CUDA toolkit instead (or set DJINN_CUDA_TOOLKIT_FORCE=1)" >&2
  exit 1
fi
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
if [ "$codename" != bookworm ]; then
  echo "install-deps: --cuda knows Debian 12 (bookworm) only, this is '${codename:-unknown}';" \
       "install a CUDA toolkit yourself and put nvcc on PATH (or set CUDACXX)" >&2
  exit 1
fi

has_candidate() {
  # (Read it whole first: grep -q on the pipe would stop apt-cache with SIGPIPE
  # and pipefail would turn the match into a failure.)
  local policy
  policy=$(apt-cache policy "$1" 2> /dev/null || true)
  grep -q 'Candidate: [^(]' <<< "$policy"
}
[ "$updated" = 1 ] || $SUDO apt-get update -qq
if ! has_candidate "${CUDA_PACKAGES[0]}"; then
  # non-free is not enabled: enable contrib + non-free of the same mirror in a
  # sources file of our own (the system's own files stay as they are).
  mirror=${DJINN_DEBIAN_MIRROR:-}
  if [ -z "$mirror" ]; then
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2> /dev/null |
             awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' |
             grep -E '/debian/?$' | head -n 1 || true)
  fi
  if [ -z "$mirror" ]; then
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2> /dev/null |
             awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z+]+:\/\//) { print $i; break } }' |
             grep -E '/debian/?$' | head -n 1 || true)
  fi
  mirror=${mirror:-http://deb.debian.org/debian}
  sources=/etc/apt/sources.list.d/djinn-debian-non-free.sources
  echo "install-deps: enabling Debian's contrib and non-free components ($mirror) in $sources" >&2
  {
    echo "# Written by Djinn's scripts/install-deps.sh --cuda, for nvidia-cuda-toolkit."
    echo "Types: deb"
    echo "URIs: $mirror"
    echo "Suites: bookworm bookworm-updates"
    echo "Components: contrib non-free"
    if [ -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
      echo "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    fi
  } | $SUDO tee "$sources" > /dev/null
  $SUDO apt-get update -qq
  if ! has_candidate "${CUDA_PACKAGES[0]}"; then
    echo "install-deps: ${CUDA_PACKAGES[0]} is still not installable after enabling non-free ($sources)" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${cuda_missing[*]} (CUDA 11.8 from Debian non-free, ~1.6 GB download)" >&2
start=$SECONDS
$SUDO apt-get install "${APT_OPTS[@]}" "${cuda_missing[@]}" > /dev/null
echo "install-deps: CUDA toolkit installed in $((SECONDS - start)) s: $(nvcc --version | tail -n 2 | head -n 1)" >&2
