#!/usr/bin/env bash
# Regenerate the .BTF_ids fixture in this directory (see README.md).
#
# Needs: gcc, pahole (1.24 made the committed files), GNU objcopy (pahole adds
# .BTF with $LLVM_OBJCOPY, which Kbuild sets to $(OBJCOPY)), and the kernel's
# real tools/bpf/resolve_btfids built from Linux 6.1 and 6.12 sources. If a
# resolve_btfids binary is missing and its kernel source tree is there, it is
# built first (libelf-dev, zlib1g-dev and pkg-config needed), out of tree.
# Not run in CI: the committed outputs are what tests use.
#
# Environment (defaults in brackets):
#   KSRC_61   [/work/ksrc/l61]    Linux 6.1 source tree (Debian linux-source-6.1)
#   KSRC_612  [/work/ksrc/l612]   Linux 6.12 source tree (Debian linux-source-6.12)
#   RESOLVE_BTFIDS_61   [/work/tools/resolve_btfids-6.1/resolve_btfids]
#   RESOLVE_BTFIDS_612  [/work/tools/resolve_btfids-6.12/resolve_btfids]
#   PAHOLE    [pahole]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
KSRC_61=${KSRC_61:-/work/ksrc/l61}
KSRC_612=${KSRC_612:-/work/ksrc/l612}
R61=${RESOLVE_BTFIDS_61:-/work/tools/resolve_btfids-6.1/resolve_btfids}
R612=${RESOLVE_BTFIDS_612:-/work/tools/resolve_btfids-6.12/resolve_btfids}
PAHOLE=${PAHOLE:-pahole}

build_tool() { # <binary> <ksrc>
	local bin=$1 src=$2
	[ -x "$bin" ] && return 0
	if [ ! -d "$src/tools/bpf/resolve_btfids" ]; then
		echo "missing $bin and no kernel source at $src to build it from" >&2
		exit 1
	fi
	make -C "$src/tools/bpf/resolve_btfids" OUTPUT="$(dirname "$bin")/" >&2
}
build_tool "$R61" "$KSRC_61"
build_tool "$R612" "$KSRC_612"

echo "gcc:     $(gcc --version | head -1)"
echo "pahole:  $($PAHOLE --version)"
[ "$($PAHOLE --version)" = v1.24 ] || echo "note: the committed files were made with pahole v1.24" >&2

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here"/base.c "$here"/base2.c "$here"/btfids_fixture.c "$here"/btf_ids_fixture.h "$tmp"/
cd "$tmp"

# -fdebug-prefix-map: no build directory in the DWARF, so the bytes do not
# depend on where this runs.
CFLAGS=(-g -O2 -fdebug-prefix-map="$tmp"=.)
gcc "${CFLAGS[@]}" -c base.c -o base.o
gcc "${CFLAGS[@]}" -c base2.c -o base2.o
gcc "${CFLAGS[@]}" -c btfids_fixture.c -o btfids_fixture.ko   # ET_REL, like a .ko

export LLVM_OBJCOPY=objcopy
"$PAHOLE" -J base.o
"$PAHOLE" -J base2.o
cp btfids_fixture.ko nobtf.ko
"$PAHOLE" -J --btf_base base.o btfids_fixture.ko
cp btfids_fixture.ko pristine.ko
cp nobtf.ko pristine-base2.ko
"$PAHOLE" -J --btf_base base2.o pristine-base2.ko

resolve() { # <tool> <base> <in> <out> <stderr file>
	cp "$3" "$4"
	"$1" -b "$2" "$4" 2>"$5"
}
resolve "$R61"  base.o  pristine.ko       resolved-6.1.ko       stderr-6.1.txt
resolve "$R612" base.o  pristine.ko       resolved-6.12.ko      stderr-6.12.txt
resolve "$R61"  base2.o pristine-base2.ko resolved-6.1-base2.ko stderr-6.1-base2.txt

for f in stderr-6.1.txt stderr-6.12.txt stderr-6.1-base2.txt; do
	echo "== resolve_btfids stderr ($f)"; cat "$f"
done
cmp -s resolved-6.1.ko resolved-6.12.ko && echo "resolved-6.1.ko and resolved-6.12.ko are byte-identical"

cp base.o base2.o pristine.ko pristine-base2.ko resolved-6.1.ko resolved-6.12.ko \
   resolved-6.1-base2.ko stderr-6.1.txt stderr-6.12.txt stderr-6.1-base2.txt "$here"/
ls -l "$here"
