#!/usr/bin/env bash
# Installs the real llama-server (Debian sid's llama.cpp-tools) into .cache/llama-server/ without touching the
# system's apt sources, and prints the path of a launcher that runs it.
#
# Why this way: Debian bookworm has no llama.cpp and sid's binaries need a newer glibc than the host's. So apt is
# pointed at sid through a private configuration (own sources list, lists and cache folders), the packages are
# downloaded and unpacked with `dpkg -x`, and a copy of llama-server is patched to use the unpacked loader and
# libraries (patchelf). Router mode (--models-dir) re-executes /proc/self/exe, so the paths must live in the binary
# itself, not in a wrapper command line; LD_LIBRARY_PATH is never used (it would break the host's own programs).
#
# Idempotent: when the launcher exists and `--version` works it exits at once. Safe to run concurrently (flock).
#
# Environment (all optional):
#   LLAMA_SERVER_DIR       install folder (default: <repo>/.cache/llama-server)
#   DEBIAN_MIRROR          Debian archive (default: http://deb.debian.org/debian; apt checks the signatures)
#   DEBIAN_SUITE           suite that has llama.cpp-tools (default: sid)
#   LLAMA_EXTRA_PACKAGES   more packages to unpack, space separated, if a future build needs another library
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${LLAMA_SERVER_DIR:-$REPO_ROOT/.cache/llama-server}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${DEBIAN_SUITE:-sid}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
PACKAGES=(llama.cpp-tools libllama0 libggml0 libc6 libstdc++6 libgcc-s1 libgomp1 libssl3t64 zlib1g libzstd1)
# shellcheck disable=SC2206 # word splitting is the point
PACKAGES+=(${LLAMA_EXTRA_PACKAGES:-})

LAUNCHER=$DIR/bin/llama-server
ROOT=$DIR/root
L=$ROOT/usr/lib/x86_64-linux-gnu
LOADER=$ROOT/usr/lib64/ld-linux-x86-64.so.2
PATCHED=$ROOT/usr/bin/llama-server.patched

log() { printf 'install-llama-server: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

installed() { [ -x "$LAUNCHER" ] && "$LAUNCHER" --version >/dev/null 2>&1; }

if installed; then echo "$LAUNCHER"; exit 0; fi

[ "$(uname -m)" = x86_64 ] || die "only x86_64 is supported (this is $(uname -m))"
command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "needs apt-get and dpkg (a Debian system)"
[ -r "$KEYRING" ] || die "$KEYRING is missing (install debian-archive-keyring)"

mkdir -p "$DIR"
# One installer at a time (parallel test workers may all find the launcher missing); re-check under the lock.
if command -v flock >/dev/null; then
  exec 9>"$DIR/.lock"
  flock 9
  if installed; then echo "$LAUNCHER"; exit 0; fi
fi

started=$(date +%s)

if ! command -v patchelf >/dev/null; then
  [ "$(id -u)" = 0 ] || die "patchelf is missing and only root can install it (apt-get install patchelf)"
  log "installing patchelf from the system's apt sources"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q patchelf >&2; then
    apt-get update -q >&2
    apt-get install -y -q patchelf >&2
  fi
fi

# Private apt state: nothing under /etc/apt or /var/lib/apt is read for sources or written.
APT=$DIR/apt
rm -rf "$APT"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/debs" "$APT/preferences.d"
echo "deb [signed-by=$KEYRING] $MIRROR $SUITE main" >"$APT/sources.list"
: >"$APT/preferences"
APT_OPTS=(
  -o "Dir::Etc::sourcelist=$APT/sources.list" -o "Dir::Etc::sourceparts=-"
  -o "Dir::Etc::preferences=$APT/preferences" -o "Dir::Etc::preferencesparts=$APT/preferences.d"
  -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache"
  -o "APT::Sandbox::User=root" -o "Acquire::Languages=none" -o "APT::Default-Release="
  # The archive reachable from CI may be a dated snapshot whose Release is past its Valid-Until (the signature is
  # still checked against the system keyring).
  -o "Acquire::Check-Valid-Until=false" -o "Acquire::Check-Date=false"
  -o "Acquire::Retries=3" -q
)
log "fetching the $SUITE package index from $MIRROR"
apt-get "${APT_OPTS[@]}" update >&2
log "downloading ${PACKAGES[*]}"
(cd "$APT/debs" && apt-get "${APT_OPTS[@]}" download "${PACKAGES[@]}" >&2)

rm -rf "$ROOT"
mkdir -p "$ROOT"
for deb in "$APT/debs"/*.deb; do dpkg -x "$deb" "$ROOT"; done
[ -x "$ROOT/usr/bin/llama-server" ] || die "llama.cpp-tools did not provide usr/bin/llama-server"
[ -e "$LOADER" ] || die "libc6 did not provide usr/lib64/ld-linux-x86-64.so.2"

# Absolute search path baked into the binary (DT_RPATH, which unlike RUNPATH also covers indirect dependencies and
# dlopen'ed backends) and into every library that carries Debian's RUNPATH (/usr/lib/x86_64-linux-gnu/llama): a
# RUNPATH on a library hides the executable's RPATH for that library's own dependencies.
RPATH=$L:$L/ggml:$L/llama
cp "$ROOT/usr/bin/llama-server" "$PATCHED"
patchelf --set-interpreter "$LOADER" --force-rpath --set-rpath "$RPATH" "$PATCHED"
while IFS= read -r -d '' so; do
  if [ -n "$(patchelf --print-rpath "$so" 2>/dev/null)" ]; then patchelf --set-rpath "$RPATH" "$so"; fi
done < <(find "$L" -type f -name '*.so*' -print0)

# Every library must resolve inside ROOT: one taken from the host would be the wrong (older) build.
# The backends carry no search path of their own (at run time the binary's RPATH applies): list them with
# --library-path "$RPATH"; list the binary with only its own.
check_deps() {
  local listing
  listing=$("$LOADER" "${@:2}" --list "$1" 2>&1) || die "cannot list the libraries of $1: $listing"
  if grep -q 'not found' <<<"$listing"; then
    die "missing libraries for $1 (add their packages to LLAMA_EXTRA_PACKAGES):"$'\n'"$(grep 'not found' <<<"$listing")"
  fi
  local outside
  outside=$(grep '=>' <<<"$listing" | grep -v "=> $ROOT/" | grep -v "=> \./" || true)
  [ -z "$outside" ] || die "libraries of $1 resolved outside $ROOT:"$'\n'"$outside"
}
BACKENDS=$L/ggml/backends0
[ -f "$BACKENDS/libggml-cpu-x64.so" ] || die "libggml0 did not provide ggml/backends0/libggml-cpu-x64.so"
check_deps "$PATCHED"
check_deps "$BACKENDS/libggml-cpu-x64.so" --library-path "$RPATH"

# The CPU backends are separate files that llama-server only finds under /usr, so the launcher names one: the
# Haswell build (AVX2, FMA, F16C, BMI2) when the CPU has those, else the baseline x86-64 build. A caller's
# GGML_BACKEND_PATH wins.
mkdir -p "$DIR/bin"
cat >"$LAUNCHER.tmp" <<EOF
#!/bin/sh
# Generated by scripts/install-llama-server.sh: runs Debian $SUITE's llama-server from $ROOT.
B='$BACKENDS'
if [ -z "\${GGML_BACKEND_PATH:-}" ]; then
  flags=" \$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null) "
  has() { case "\$flags" in *" \$1 "*) return 0 ;; esac; return 1; }
  if has avx2 && has fma && has f16c && has bmi2 && [ -f "\$B/libggml-cpu-haswell.so" ]; then
    GGML_BACKEND_PATH="\$B/libggml-cpu-haswell.so"
  else
    GGML_BACKEND_PATH="\$B/libggml-cpu-x64.so"
  fi
  export GGML_BACKEND_PATH
fi
exec '$PATCHED' "\$@"
EOF
chmod +x "$LAUNCHER.tmp"
"$LAUNCHER.tmp" --version >/dev/null 2>&1 || die "the patched llama-server does not run: $("$LAUNCHER.tmp" --version 2>&1 | tail -5)"
mv "$LAUNCHER.tmp" "$LAUNCHER"

for deb in "$APT/debs"/*.deb; do dpkg-deb --showformat='${Package} ${Version}\n' -W "$deb"; done >"$DIR/VERSIONS"
rm -rf "$APT" # about 60 MB of indexes and packages; a reinstall fetches them again
log "installed $(grep '^llama.cpp-tools ' "$DIR/VERSIONS" || true) in $(($(date +%s) - started)) s"
echo "$LAUNCHER"
