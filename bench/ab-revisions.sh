#!/bin/bash
# A/B: btfd at two revisions on the same module subset (every 7th module of the corpus), interleaved,
# through the daemon: cold (empty cache), no-op, restore (every .BTF stripped). Each revision is a
# built checkout at /work/<name> (git worktree add /work/before REV && npm ci && npm run build).
# Usage: CORPUS=… ROUNDS=3 bash bench/ab-revisions.sh [BEFORE] [AFTER]   (defaults: before main)
set -eu
CORPUS=${CORPUS:-/work/corpus/current}
A=${1:-before}
B=${2:-main}
FLAGS='--btf_gen_floats -j --lang_exclude=rust'
ROUNDS=${ROUNDS:-3}
mapfile -t MODS < <(cd $CORPUS && find kernel -name '*.ko' | sort | awk 'NR%7==0')
echo "${#MODS[@]} modules" >&2
run() { # ver label
  local ver=$1 dir=/work/ab/$1 btfd="node /work/$1/dist/client/main.js"
  local t0 t1
  t0=$(date +%s.%N); BTFD_HOME=$dir/home $btfd build $dir/tree --base $CORPUS/vmlinux --pahole-flags "$FLAGS" --json > $dir/$2.json; t1=$(date +%s.%N)
  echo "$ver $2 $(echo "$t1 - $t0" | bc) $(node -e "const r=require('$dir/$2.json');console.log(r.fresh,r.restored,r.regenerated,r.failed)")"
}
for round in $(seq $ROUNDS); do
  for ver in $A $B; do
    dir=/work/ab/$ver; rm -rf $dir; mkdir -p $dir/tree
    for m in "${MODS[@]}"; do mkdir -p $dir/tree/$(dirname $m); cp $CORPUS/$m $dir/tree/$m; chmod 644 $dir/tree/$m; done
    BTFD_HOME=$dir/home node /work/$ver/dist/client/main.js start > /dev/null
    run $ver cold; run $ver noop
    for m in "${MODS[@]}"; do objcopy --remove-section .BTF $dir/tree/$m; done
    run $ver restore
    BTFD_HOME=$dir/home node /work/$ver/dist/client/main.js stop > /dev/null
  done
done
