#!/bin/sh
# Fetch a real distro kernel for benchmarks (copied from the team's shared/bench/fetch-corpus.sh): Debian's cloud-amd64 debug image package ships vmlinux
# (with .BTF and DWARF) and ~1100 debug .ko files (with DWARF and the distro's own .BTF).
# Usage: fetch-corpus.sh [DEST]   (default: ${BTFD_CORPUS:-$HOME/.cache/btfd-corpus})
# Result: DEST/<version>/vmlinux, DEST/<version>/kernel/**.ko (pristine, read-only copy: copy it
# before letting anything write to it), and DEST/current -> <version>.
set -eu
dest=${1:-${BTFD_CORPUS:-$HOME/.cache/btfd-corpus}}
mkdir -p "$dest"
# Default: the newest Debian 12 6.1 cloud kernel (built with pahole 1.24, the pahole Debian 12 ships).
pkg=${BTFD_CORPUS_PACKAGE:-$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-dbg$' \
  | cut -d' ' -f1 | sort -V | tail -n 1)}
[ -n "$pkg" ] || { echo "no linux-image-6.1.0-*-cloud-amd64-dbg package found: run apt-get update" >&2; exit 1; }
ver=${pkg#linux-image-}; ver=${ver%-dbg}
if [ -f "$dest/$ver/.complete" ]; then echo "$dest/$ver"; exit 0; fi
work=$(mktemp -d "$dest/.fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
( cd "$work" && apt-get download "$pkg" ) >"$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; exit 1; }
dpkg -x "$work"/*.deb "$work/x"
mkdir -p "$work/out"
mods=$(ls -d "$work"/x/usr/lib/debug/lib/modules/*/ | head -n 1)
cp -L "$mods/vmlinux" "$work/out/vmlinux"
cp -r "$mods/kernel" "$work/out/kernel"
chmod -R a-w "$work/out"
rm -rf "$dest/$ver"
mv "$work/out" "$dest/$ver"
ln -sfn "$ver" "$dest/current"
chmod u+w "$dest/$ver"; touch "$dest/$ver/.complete"; chmod u-w "$dest/$ver"
echo "$dest/$ver"
