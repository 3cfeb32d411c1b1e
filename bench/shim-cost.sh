#!/usr/bin/env bash
# Per-call cost of client/bin/btfd-pahole on a cache hit, against the real pahole on the same
# module, with a warm daemon. Medians of N calls each, and the ratio.
#
#   bench/shim-cost.sh [MODULE.ko] [BASE]
#     MODULE.ko  a module with DWARF (default: tcp_bbr.ko from ../shared/data/debian-6.1-cloud)
#     BASE       its base: vmlinux or a raw BTF file (default: that dir's vmlinux.btf)
#   N=50 (calls per scenario), FLAGS (default Debian 6.1's: --btf_gen_floats -j --lang_exclude=rust),
#   BTFD_PAHOLE (default: pahole on PATH)
#
# Scenarios, each call timed alone from the caller (bash's $EPOCHREALTIME, no fork to read it):
#   shim, hit, fresh     the module already holds its BTF: the daemon checks and writes nothing
#   shim, hit, restore   kbuild after a relink: .BTF stripped before each call (untimed); the
#                        daemon patches the cached section in
#   pahole               the real pahole on the same stripped module
#   shim/pahole --version  the pass-through path, for the shim's own overhead
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
data=$here/../shared/data/debian-6.1-cloud
module=${1:-$data/kernel/net/ipv4/tcp_bbr.ko}
base=${2:-$data/vmlinux.btf}
n=${N:-50}
read -r -a flags <<< "${FLAGS:---btf_gen_floats -j --lang_exclude=rust}"
pahole=${BTFD_PAHOLE:-$(command -v pahole)}
shim=$here/client/bin/btfd-pahole
export LLVM_OBJCOPY=${LLVM_OBJCOPY:-objcopy}

if ! [ -f "$module" ] || ! [ -f "$base" ]; then echo "missing module or base: $module $base" >&2; exit 1; fi
[ -f "$here/dist/daemon/main.js" ] || { echo "run npm run build first" >&2; exit 1; }

# A short dir: the socket path must stay under 108 bytes.
work=$(mktemp -d /tmp/btfd-shimbench-XXXXXX)
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

name=$(basename "$module")
mkdir -p "$work/tree"
cp "$base" "$work/tree/base"
cp "$module" "$work/pristine.ko"
chmod u+w "$work/pristine.ko"
objcopy --remove-section .BTF "$work/pristine.ko"
cp "$work/pristine.ko" "$work/tree/$name"
cp "$work/pristine.ko" "$work/tree/direct.ko"

export BTFD_HOME=$work/h
env -u BTFD_SOCKET node "$here/dist/daemon/main.js" --pahole "$pahole" 2>"$work/daemon.err" &
daemon_pid=$!
sock=$BTFD_HOME/run/btfd.sock
for _ in $(seq 100); do
  curl -q -sf --unix-socket "$sock" http://btfd/v1/hello >/dev/null 2>&1 && break
  sleep 0.1
done
curl -q -sf --unix-socket "$sock" http://btfd/v1/hello >/dev/null || { echo "daemon did not start: $(cat "$work/daemon.err")" >&2; exit 1; }

cd "$work/tree"
args=(-J "${flags[@]}" --btf_base base "$name")
export BTFD_PAHOLE=$pahole

# Warm: the first call regenerates and fills the cache; it must be the daemon answering.
warm=$(BTFD_SHIM_DEBUG=1 "$shim" "${args[@]}" 2>&1)
case $warm in *"by the daemon"*) ;; *) echo "the daemon did not answer: $warm" >&2; exit 1 ;; esac
check=$(BTFD_SHIM_DEBUG=1 "$shim" "${args[@]}" 2>&1)
cp "$work/pristine.ko" "$name"
restored=$(BTFD_SHIM_DEBUG=1 "$shim" "${args[@]}" 2>&1)
echo "warm: $warm; then: $check; after a strip: $restored" >&2

# time_ms CMD...: runs CMD (output discarded), prints its wall time in ms.
time_ms() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  local t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

fresh=() restore=() real=() shimv=() realv=()
for _ in $(seq "$n"); do fresh+=("$(time_ms "$shim" "${args[@]}")"); done
for _ in $(seq "$n"); do
  cp "$work/pristine.ko" "$name"
  restore+=("$(time_ms "$shim" "${args[@]}")")
done
for _ in $(seq "$n"); do
  cp "$work/pristine.ko" direct.ko
  real+=("$(time_ms "$pahole" -J "${flags[@]}" --btf_base base direct.ko)")
done
for _ in $(seq "$n"); do shimv+=("$(time_ms "$shim" --version)"); done
for _ in $(seq "$n"); do realv+=("$(time_ms "$pahole" --version)"); done

m_fresh=$(printf '%s\n' "${fresh[@]}" | median)
m_restore=$(printf '%s\n' "${restore[@]}" | median)
m_real=$(printf '%s\n' "${real[@]}" | median)
m_shimv=$(printf '%s\n' "${shimv[@]}" | median)
m_realv=$(printf '%s\n' "${realv[@]}" | median)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }

echo "shim cost: $name ($(stat -c %s "$work/pristine.ko") bytes), base $(basename "$base"), pahole $("$pahole" --version), N=$n, $(nproc) cores"
printf '  %-28s %9s ms\n' "pahole -J (real)" "$m_real"
printf '  %-28s %9s ms   pahole/shim = %sx\n' "shim, cache hit, fresh" "$m_fresh" "$(ratio "$m_real" "$m_fresh")"
printf '  %-28s %9s ms   pahole/shim = %sx\n' "shim, cache hit, restore" "$m_restore" "$(ratio "$m_real" "$m_restore")"
printf '  %-28s %9s ms\n' "pahole --version" "$m_realv"
printf '  %-28s %9s ms   (pass-through overhead %s ms)\n' "shim --version" "$m_shimv" "$(awk -v a="$m_shimv" -v b="$m_realv" 'BEGIN { printf "%.2f", a - b }')"
