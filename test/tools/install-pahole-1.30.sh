#!/bin/sh
# Install Debian 13 (trixie)'s pahole 1.30 and bpftool 7.5 (libbpf 1.5, which reads distilled
# `.BTF.base`) into a private prefix, without touching the system: no sudo, no dpkg database, no
# /etc/apt or /var/lib/apt writes. Works as root and as an ordinary user.
#
# Usage: install-pahole-1.30.sh [PREFIX]      (default: <repo>/.cache/pahole-1.30)
# Result: PREFIX/bin/pahole and PREFIX/bin/bpftool, small sh wrappers that run the trixie binaries
# through the prefix's own dynamic loader (`ld.so --library-path ...`), passing "$@" unchanged.
# The wrapper path PREFIX/bin/pahole is printed on stdout as the last line. Progress goes to stderr.
# Re-running when already installed only checks `pahole --version` and prints the path (no network).
#
# Needs: apt-get, dpkg-deb (any Debian/Ubuntu host), /usr/share/keyrings/debian-archive-keyring.gpg
# with the trixie keys (debian-archive-keyring >= 2023.3), network access to deb.debian.org, amd64.
set -eu

want_version=v1.30
suite=trixie
mirror=${BTFD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# pahole + bpftool and their shared libraries (closure of their Depends in trixie).
packages="pahole bpftool libbpf1 libc6 libgcc-s1 libdw1t64 libelf1t64 zlib1g libzstd1 liblzma5 libbz2-1.0 libcap2"

here=$(cd "$(dirname -- "$0")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)
prefix=${1:-$repo/.cache/pahole-1.30}

die() { echo "install-pahole-1.30: $*" >&2; exit 1; }
log() { echo "install-pahole-1.30: $*" >&2; }

mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd -P)
wrapper=$prefix/bin/pahole
case $prefix in *:*) die "PREFIX must not contain ':' (it goes into ld.so --library-path)" ;; esac

installed_ok() {
  [ -f "$prefix/.installed" ] && [ -x "$wrapper" ] && [ -x "$prefix/bin/bpftool" ] || return 1
  v=$("$wrapper" --version 2>/dev/null) || return 1
  [ "$v" = "$want_version" ]
}

# Fast path: already installed.
if installed_ok; then echo "$wrapper"; exit 0; fi

# Serialise concurrent installs into the same prefix (flock is in util-linux; optional).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$prefix/.lock"
  flock 9
  if installed_ok; then echo "$wrapper"; exit 0; fi
fi

[ "$(uname -m)" = x86_64 ] || die "only x86_64 (amd64) is supported"
[ -r "$keyring" ] || die "missing $keyring (install debian-archive-keyring)"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found"
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found"

tmp=$(mktemp -d "$prefix/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# Private apt configuration: our own sources, lists, cache, status and preferences; the host's
# apt.conf(.d) still applies (proxies etc.), but not its sources or pins.
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/prefs.d" "$tmp/debs"
echo "deb [signed-by=$keyring] $mirror $suite main" >"$tmp/sources.list"
: >"$tmp/status"
set -- \
  -o Dir::Etc::sourcelist="$tmp/sources.list" \
  -o Dir::Etc::sourceparts=- \
  -o Dir::Etc::preferences="$tmp/preferences" \
  -o Dir::Etc::preferencesparts="$tmp/prefs.d" \
  -o Dir::State::lists="$tmp/lists" \
  -o Dir::State::status="$tmp/status" \
  -o Dir::State::extended_states="$tmp/extended_states" \
  -o Dir::Cache="$tmp/cache" \
  -o APT::Architecture=amd64 \
  -o APT::Architectures=amd64 \
  -o Acquire::Languages=none
# As root apt would drop to the _apt user, which cannot write our private directories.
[ "$(id -u)" = 0 ] && set -- "$@" -o APT::Sandbox::User=root

log "fetching the $suite package index from $mirror"
apt-get "$@" -q update >"$tmp/apt.log" 2>&1 || { cat "$tmp/apt.log" >&2; die "apt-get update failed"; }
log "downloading: $packages"
# shellcheck disable=SC2086 # word splitting of $packages is intended
(cd "$tmp/debs" && apt-get "$@" -q download $packages) >"$tmp/apt.log" 2>&1 \
  || { cat "$tmp/apt.log" >&2; die "apt-get download failed"; }

mkdir "$tmp/root"
for deb in "$tmp"/debs/*.deb; do
  dpkg-deb -x "$deb" "$tmp/root"
done
ls "$tmp"/debs >"$tmp/root/.packages"
for f in usr/lib64/ld-linux-x86-64.so.2 usr/bin/pahole usr/sbin/bpftool; do
  [ -e "$tmp/root/$f" ] || die "$f missing from the extracted packages"
done

# Replace a previous install (only the entries we install); the marker is written last.
rm -f "$prefix/.installed"
for d in "$tmp"/root/* "$tmp/root/.packages"; do
  rm -rf "$prefix/${d##*/}"
  mv "$d" "$prefix/"
done
mkdir -p "$prefix/bin"

# Quote the prefix for embedding in sh single quotes.
qprefix=$(printf '%s\n' "$prefix" | sed "s/'/'\\\\''/g")
write_wrapper() { # name, path of the real binary inside the prefix
  cat >"$prefix/bin/$1.new" <<EOF
#!/bin/sh
# $1 from Debian $suite, run with the libraries and dynamic loader in this prefix
# (written by test/tools/install-pahole-1.30.sh).
p='$qprefix'
exec "\$p/usr/lib64/ld-linux-x86-64.so.2" --library-path "\$p/usr/lib/x86_64-linux-gnu:\$p/lib/x86_64-linux-gnu" "\$p/$2" "\$@"
EOF
  chmod 0755 "$prefix/bin/$1.new"
  mv -f "$prefix/bin/$1.new" "$prefix/bin/$1"
}
write_wrapper pahole usr/bin/pahole
write_wrapper bpftool usr/sbin/bpftool

v=$("$wrapper" --version 2>&1) || die "$wrapper --version failed: $v"
[ "$v" = "$want_version" ] || die "$wrapper --version printed '$v', expected $want_version"
bv=$("$prefix/bin/bpftool" version 2>&1) || die "$prefix/bin/bpftool version failed: $bv"
case $bv in
  *"libbpf v1."*) ;;
  *) die "unexpected bpftool version output: $bv" ;;
esac
log "installed pahole $v and $(printf '%s\n' "$bv" | head -n 1) ($(printf '%s\n' "$bv" | sed -n 's/^using //p'))"
date -u '+%Y-%m-%dT%H:%M:%SZ' >"$prefix/.installed"
echo "$wrapper"
