#!/usr/bin/env bash
# Issue-3 benchmark: the daemon watching a real distro tree (~1100 modules).
#   bench/daemon.sh TREE [HOME]
#     TREE: a tree bench/corpus.sh already built (its modules hold BTF), e.g. /tmp/btfd-bench/tree
#     HOME: the BTFD_HOME that built it (default: TREE/../home), so the cache and stat cache are warm
# Measures, REPEATS times (default 3), medians:
#   - restart: `btfd stop`, `btfd start`, until status says the reconcile is done and the tree's
#     build found every module fresh (the stat fast path: no module re-hashed);
#   - the daemon's RSS (VmRSS and peak VmHWM) after watching the tree.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tree=$(cd "${1:?usage: daemon.sh TREE [HOME]}" && pwd)
export BTFD_HOME=${2:-$(dirname "$tree")/home}
repeats=${REPEATS:-3}
flags='--btf_gen_floats -j --lang_exclude=rust'
btfd="node $here/dist/client/main.js"
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# Poll with curl over the socket: a node CLI per poll would add ~150 ms to every sample.
socket() { node -e "import('$here/dist/shared/config.js').then(c=>console.log(c.resolveConfig({env:process.env}).socketPath))"; }
status() { curl -sf --unix-socket "$sock" http://btfd/v1/status; }
field() { node -e "const s=JSON.parse(require('fs').readFileSync(0,'utf8'));const t=s.trees&&s.trees[0];console.log(eval(process.argv[1]))" "$1"; }
wait_reconciled() {
  for _ in $(seq 1 600); do
    out=$(status) || true
    if [ "$(echo "$out" | field '!s.warming && t && t.lastBuild !== null && !t.building')" = true ]; then echo "$out"; return 0; fi
    sleep 0.05
  done
  echo "daemon never finished reconciling" >&2; return 1
}

modules=$(find "$tree" -name '*.ko' | wc -l)
$btfd stop >/dev/null 2>&1 || true
sock=$(socket)
$btfd start >/dev/null
$btfd watch "$tree" --pahole-flags "$flags" >/dev/null
out=$(wait_reconciled)
echo "watching $tree ($modules modules): first build $(echo "$out" | field 'JSON.stringify({fresh:t.lastBuild.fresh,restored:t.lastBuild.restored,regenerated:t.lastBuild.regenerated,seconds:t.lastBuild.seconds})')"

restart=(); rss=(); hwm=(); engine=(); reported=()
for i in $(seq 1 "$repeats"); do
  $btfd stop >/dev/null
  t0=$(now)
  $btfd start >/dev/null
  out=$(wait_reconciled)
  restart+=("$(echo "$(now) - $t0" | bc -l)")
  engine+=("$(echo "$out" | field 't.lastBuild.seconds')")
  reported+=("$(echo "$out" | field 's.reconcileMs / 1000')")
  pid=$(echo "$out" | field 's.pid')
  echo "run $i: fresh=$(echo "$out" | field 't.lastBuild.fresh') of $modules, reconcile build $(echo "$out" | field 't.lastBuild.seconds') s"
  rss+=("$(awk '/VmRSS/ {print $2/1024}' "/proc/$pid/status")")
  hwm+=("$(awk '/VmHWM/ {print $2/1024}' "/proc/$pid/status")")
done
m() { printf '%s\n' "$@" | median; }
echo
echo "| daemon, $modules modules | median of $repeats |"
echo "|---|---|"
printf '| restart until all fresh, as the daemon reports it (process start → reconcile done) | %.2f s |\n' "$(m "${reported[@]}")"
printf '| restart until all fresh, from `btfd start` (wall, incl. CLI and node startup) | %.2f s |\n' "$(m "${restart[@]}")"
printf '| reconcile build alone (engine) | %.2f s |\n' "$(m "${engine[@]}")"
printf '| RSS after reconcile | %.0f MB |\n' "$(m "${rss[@]}")"
printf '| peak RSS (VmHWM) | %.0f MB |\n' "$(m "${hwm[@]}")"
$btfd unwatch "$tree" >/dev/null
$btfd stop >/dev/null
