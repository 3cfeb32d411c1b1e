#!/usr/bin/env bash
# Issue-2 benchmark on a real distro kernel (Debian's cloud-amd64 debug package, ~1100 modules).
# Every figure is a ratio against the naive way measured in the same run, medians of REPEATS.
#
#   bench/corpus.sh [CORPUS_DIR] [WORK_DIR]
#     CORPUS_DIR: output of ../shared/bench/fetch-corpus.sh (default: $BTFD_CORPUS/current)
#     WORK_DIR:   scratch space outside the repo (default: /tmp/btfd-bench); needs ~4 GB
#
# Scenarios: cold build (btfd) vs `xargs -P$(nproc) pahole` on the same stripped modules;
# second build (all fresh); `touch vmlinux` (nothing regenerated); restore after every module's
# .BTF was stripped again. It also checks the BTF against the distro's (byte / type order).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=${1:-${BTFD_CORPUS:-$HOME/.cache/btfd-corpus}/current}
work=${2:-/tmp/btfd-bench}
repeats=${REPEATS:-3}
flags='--btf_gen_floats -j --lang_exclude=rust'
btfd="node $here/dist/client/main.js"
jobs=$(nproc)

[ -f "$corpus/vmlinux" ] || { echo "no corpus at $corpus: run ../shared/bench/fetch-corpus.sh first" >&2; exit 1; }
[ -f "$here/dist/bench/compare-btf.js" ] || { echo "run npm run build first" >&2; exit 1; }

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# A writable copy of the corpus with every module's .BTF stripped, as a fresh link leaves it.
prepare_tree() {
  rm -rf "$1"
  mkdir -p "$1"
  cp -r "$corpus/kernel" "$1/kernel"
  cp "$corpus/vmlinux" "$1/vmlinux"
  chmod -R u+w "$1"
  strip_btf "$1"
}
strip_btf() { find "$1/kernel" -name '*.ko' -print0 | xargs -0 -P"$jobs" -n 16 sh -c 'for f; do objcopy --remove-section .BTF "$f"; done' sh; }

naive_build() {
  find "$1/kernel" -name '*.ko' -print0 |
    LLVM_OBJCOPY=objcopy xargs -0 -P"$jobs" -n1 pahole -J $flags --btf_base "$1/vmlinux"
}

btfd_build() { BTFD_HOME="$work/home" $btfd build "$1" --no-daemon --pahole-flags "$flags" --json; }
field() { node -e "const r=JSON.parse(require('fs').readFileSync(0,'utf8'));console.log(r['$1'])"; }

mkdir -p "$work"
modules=$(find "$corpus/kernel" -name '*.ko' | wc -l)
echo "corpus: $corpus ($modules modules), $jobs cores, pahole $(pahole --version), repeats $repeats"

cold_naive=(); cold_btfd=(); fresh=(); touched=(); restore=()
for i in $(seq 1 "$repeats"); do
  prepare_tree "$work/naive"
  t=$(now); naive_build "$work/naive" 2>/dev/null; cold_naive+=("$(elapsed "$t")")

  prepare_tree "$work/tree"
  rm -rf "$work/home"
  t=$(now); out=$(btfd_build "$work/tree"); cold_btfd+=("$(elapsed "$t")")
  echo "run $i cold: regenerated=$(echo "$out" | field regenerated) failed=$(echo "$out" | field failed)"

  # The first rebuild re-hashes files btfd wrote within the racy window; the second uses the stat cache.
  btfd_build "$work/tree" >/dev/null
  t=$(now); out=$(btfd_build "$work/tree"); fresh+=("$(elapsed "$t")")
  echo "run $i rebuild: fresh=$(echo "$out" | field fresh)"

  touch "$work/tree/vmlinux"
  t=$(now); out=$(btfd_build "$work/tree"); touched+=("$(elapsed "$t")")
  echo "run $i touch vmlinux: fresh=$(echo "$out" | field fresh) regenerated=$(echo "$out" | field regenerated)"

  strip_btf "$work/tree"
  t=$(now); out=$(btfd_build "$work/tree"); restore+=("$(elapsed "$t")")
  echo "run $i restore: restored=$(echo "$out" | field restored) regenerated=$(echo "$out" | field regenerated)"
done

m() { printf '%s\n' "$@" | median; }
cn=$(m "${cold_naive[@]}"); cb=$(m "${cold_btfd[@]}"); fr=$(m "${fresh[@]}"); to=$(m "${touched[@]}"); re=$(m "${restore[@]}")
echo
echo "| scenario | btfd (s) | naive pahole (s) | naive / btfd |"
echo "|---|---|---|---|"
printf '| cold build, %s modules | %.1f | %.1f | %.2f× |\n' "$modules" "$cb" "$cn" "$(echo "$cn / $cb" | bc -l)"
printf '| rebuild, all fresh | %.2f | %.1f | %.0f× |\n' "$fr" "$cn" "$(echo "$cn / $fr" | bc -l)"
printf '| touch vmlinux | %.2f | %.1f | %.0f× |\n' "$to" "$cn" "$(echo "$cn / $to" | bc -l)"
printf '| restore after stripping .BTF | %.2f | %.1f | %.0f× (vs btfd cold: %.0f×) |\n' "$re" "$cn" "$(echo "$cn / $re" | bc -l)" "$(echo "$cb / $re" | bc -l)"
echo
echo "BTF vs the distro's (btfd tree):"
node "$here/dist/bench/compare-btf.js" "$work/tree/kernel" "$corpus/kernel" "$corpus/vmlinux"
echo "BTF vs the distro's (naive tree):"
node "$here/dist/bench/compare-btf.js" "$work/naive/kernel" "$corpus/kernel" "$corpus/vmlinux"
