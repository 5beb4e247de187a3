#!/usr/bin/env bash
# Provide a free-threaded CPython 3.14 (GIL disabled) and print its path on the last stdout line:
#
#     PY=$(scripts/build-freethreaded-python.sh | tail -1)
#     scripts/build-freethreaded-python.sh /some/prefix   # default: /opt/manycore/python3.14t
#
# 3.14 is the first release in which free-threaded CPython is supported (PEP 779), and the
# extensions the suite needs (uvloop, httptools, msgspec, numpy, marisa-trie, asyncpg) publish
# cp314t wheels for it.
#
# The install prefix is the cache: if $PREFIX/bin/python3.14t already runs with the GIL disabled and
# its ssl/sqlite3/ctypes modules import, nothing is done (about 0.1 s). Otherwise it is built, which
# takes 4 to 6 minutes on 2 cores (configure ~40 s, make ~100 s, the rest is install and .pyc):
#   1. a deb-src-only entry for Debian's testing and unstable suites (forky, sid) is added, because
#      they are the suites that carry a CPython 3.14 source, so the build needs Debian's archive and
#      nothing else; being deb-src only, it can never pull their binaries onto this machine;
#   2. the build dependencies come from the machine's own suite (never
#      `apt-get build-dep python3.14`, which would resolve against the newer suites);
#   3. only the upstream tarball (*.orig.tar.*) is unpacked: Debian's patches assume
#      prefix /usr and a Debian layout (dist-packages, multiarch), wrong for a private prefix;
#   4. configure --disable-gil, without --enable-optimizations (PGO would multiply the build time).
# Needs root (apt) on a cold build. Build output goes to a log whose tail is shown on failure.
set -euo pipefail

VERSION=3.14
PREFIX="${1:-/opt/manycore/python${VERSION}t}"
PY="$PREFIX/bin/python${VERSION}t"
SRC_LIST=/etc/apt/sources.list.d/manycore-python-src.sources
OLD_LIST=/etc/apt/sources.list.d/manycore-trixie-src.sources  # written by earlier versions
PINNED_RELEASE=3.14.7
PINNED_SHA256=3b48dac8fb59f62eaa67ac83c1eb12bda1b7a08406dd286e252c11a66be27f81
LOG="${TMPDIR:-/tmp}/build-freethreaded-python.log"
STEP="starting"

say() { echo "build-freethreaded-python: [${SECONDS}s] $*" >&2; }
on_error() {
    say "FAILED while $STEP (exit status $1); the last lines of $LOG follow"
    tail -n 30 "$LOG" >&2 2>/dev/null || true
    say "fix the cause above and re-run; a complete build in $PREFIX is reused as is"
}
trap 'on_error $?' ERR

# The check for a usable build: free-threaded, and the modules pip and the tests need compiled in.
usable() {
    [[ -x "$PY" ]] && "$PY" -c 'import sys, ssl, sqlite3, ctypes, zlib, lzma, bz2
assert not sys._is_gil_enabled(), "GIL is enabled"' >/dev/null 2>&1
}

if usable; then
    echo "$PY"
    exit 0
fi

[[ $EUID -eq 0 ]] || { say "no usable $PY and not root: run as root to build it"; exit 1; }
command -v apt-get >/dev/null || { say "no apt-get: this script builds on Debian only"; exit 1; }

# One build at a time per prefix (two CI steps racing would corrupt each other's make install).
mkdir -p "$PREFIX"
exec 9>"$PREFIX/.build.lock"
flock 9
if usable; then echo "$PY"; exit 0; fi

: >"$LOG"
say "building free-threaded CPython into $PREFIX (log: $LOG)"

STEP="installing build dependencies from the machine's own suite"
DEPS=(build-essential pkg-config xz-utils libssl-dev zlib1g-dev libbz2-dev libffi-dev liblzma-dev
      libsqlite3-dev libreadline-dev libncurses-dev uuid-dev)
missing=()
for dep in "${DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'ok installed' || missing+=("$dep")
done
if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update >>"$LOG" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" \
        >>"$LOG" 2>&1
fi

STEP="adding the deb-src entry ($SRC_LIST) and updating its index"
rm -f "$OLD_LIST"
cat >"$SRC_LIST" <<'EOF'
# Source packages only (Types: deb-src): lets scripts/build-freethreaded-python.sh fetch the
# python3.14 source; no binary package of these suites can be installed through this entry.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: forky sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# Refresh only this entry: the machine's other lists are left as they are, and it is faster.
# Another apt (a parallel install) may hold the lists lock for a while: wait for it.
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    apt-get update -o Dir::Etc::sourcelist="$SRC_LIST" -o Dir::Etc::sourceparts=- \
        -o APT::Get::List-Cleanup=0 >>"$LOG" 2>&1 && break
    ((attempt < 10)) || false
    sleep 20
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ftpython.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

STEP="downloading the python$VERSION source package"
# As root, apt downloads as user _apt, which cannot write into a root-owned mktemp dir.
# Testing first. An index can name a version whose files the mirror no longer (or does not yet)
# serve; then take a pinned upstream tarball from the same pool, checked against its digest.
for suite in forky sid; do
    apt-get source --download-only -o APT::Sandbox::User=root "python$VERSION/$suite" \
        >>"$LOG" 2>&1 && break
    rm -f python"$VERSION"_*
done
if ! compgen -G "python${VERSION}_*.orig.tar.*" >/dev/null; then
    STEP="downloading the pinned python$VERSION $PINNED_RELEASE upstream tarball"
    pinned="python${VERSION}_${PINNED_RELEASE}.orig.tar.xz"
    # The pool folder comes from apt's own idea of where the current version lives.
    uri=$(apt-get source --print-uris -qq "python$VERSION/forky" | grep -m1 -o "'[^']*orig[^']*'")
    uri=${uri//\'/}
    curl -fsS --retry 3 -o "$pinned" "${uri%/*}/$pinned" >>"$LOG" 2>&1
    echo "$PINNED_SHA256  $pinned" | sha256sum -c - >>"$LOG" 2>&1
fi
orig=(python"$VERSION"_*.orig.tar.*)
[[ -f "${orig[0]}" ]] || { STEP="finding the upstream tarball"; false; }
say "unpacking ${orig[0]}"
mkdir src
tar -xf "${orig[0]}" -C src --strip-components=1
cd src

STEP="running configure --disable-gil"
# --disable-test-modules: CPython's own test suite is large to install and nothing here runs it.
./configure --disable-gil --prefix="$PREFIX" --with-ensurepip=install --disable-test-modules \
    >>"$LOG" 2>&1
STEP="compiling (make -j$(nproc))"
say "$STEP"
make -j"$(nproc)" >>"$LOG" 2>&1
STEP="installing into $PREFIX (make altinstall)"
# altinstall: only versioned names (python3.14t, pip3.14), so the prefix never shadows python3.
say "$STEP"
make altinstall >>"$LOG" 2>&1

STEP="checking the installed interpreter"
if ! usable; then
    why=$("$PY" -c 'import sys, ssl, sqlite3, ctypes, zlib, lzma, bz2
print("GIL enabled:", sys._is_gil_enabled())' 2>&1)
    say "$PY was installed but is not usable: ${why##*$'\n'}"
    false
fi
say "done: $("$PY" -VV | head -1)"
echo "$PY"
