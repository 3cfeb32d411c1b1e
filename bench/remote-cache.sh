#!/usr/bin/env bash
# Issue-11 benchmark: a team of two homes on one machine sharing a distro kernel's module BTF
# through nginx (WebDAV PUT, the bazel-remote HTTP layout) and through Redis, both on 127.0.0.1.
#
#   bench/remote-cache.sh [--every N] [CORPUS_DIR] [WORK_DIR]
#     --every N:  only every Nth module of the corpus (sorted paths); default 1 = all 1,121
#     CORPUS_DIR: ../shared/bench/fetch-corpus.sh output (default: /work/corpus/current)
#     WORK_DIR:   scratch space outside the repo (default: /tmp/btfd-remote-bench); ~2 GB per tree
#
# In one run, through the daemon (started first, so its start is not timed):
#   COLD_REPEATS rounds (default 1), interleaved: cold, local only — every module regenerated with
#   pahole, the cost a remote hit saves; cold + nginx, cold + Redis — the first home fills each
#   remote (`btfd stop`'s drain is timed apart);
#   then REPEATS rounds (default 3), interleaved: a second home with an empty cache restoring the
#   whole tree from nginx, from Redis, and (for reference) the first home restoring from its local
#   cache.
# Then the per-module remote hit latency (bench/remote-latency.ts) against each server.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
every=1
if [ "${1:-}" = --every ]; then every=$2; shift 2; fi
corpus=${1:-/work/corpus/current}
work=${2:-/tmp/btfd-remote-bench}
repeats=${REPEATS:-3}
cold_repeats=${COLD_REPEATS:-1}
flags='--btf_gen_floats -j --lang_exclude=rust'
btfd="node $here/dist/client/main.js"
jobs=$(nproc)
nginx_port=${NGINX_PORT:-18481}
redis_port=${REDIS_PORT:-16481}
http_url="http://127.0.0.1:$nginx_port/btfd"
redis_url="redis://127.0.0.1:$redis_port"

[ -f "$corpus/vmlinux" ] || { echo "no corpus at $corpus" >&2; exit 1; }
[ -f "$here/dist/bench/remote-latency.js" ] || { echo "run npm run build first" >&2; exit 1; }

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc -l; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { node -e "const r=JSON.parse(require('fs').readFileSync(0,'utf8'));console.log(r['$1'])"; }

rm -rf "$work"
mkdir -p "$work/nginx/data/btfd" "$work/nginx/tmp" "$work/redis" "$work/homes"
mapfile -t MODS < <(cd "$corpus" && find kernel -name '*.ko' | sort | awk -v n="$every" 'NR % n == 0')

cat > "$work/nginx/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $work/nginx/nginx.pid; error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp/body; proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fcgi; uwsgi_temp_path $work/nginx/tmp/uwsgi; scgi_temp_path $work/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$nginx_port; root $work/nginx/data; client_max_body_size 1g;
    location / { dav_methods PUT; create_full_put_path on; dav_access user:rw; }
  }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" & nginx_pid=$!
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work/redis" --logfile "$work/redis/redis.log" & redis_pid=$!
cleanup() {
  for h in "$work"/homes/*/; do BTFD_HOME=$h $btfd stop > /dev/null 2>&1 || true; done
  kill "$nginx_pid" "$redis_pid" 2> /dev/null || true
}
trap cleanup EXIT
for _ in $(seq 100); do (exec 3<> "/dev/tcp/127.0.0.1/$nginx_port") 2> /dev/null && (exec 3<> "/dev/tcp/127.0.0.1/$redis_port") 2> /dev/null && break; sleep 0.1; done

# A writable copy of the (sub)corpus with every module's .BTF stripped, as a fresh link leaves it.
prepare_tree() {
  rm -rf "$1"; mkdir -p "$1"
  for m in "${MODS[@]}"; do mkdir -p "$1/$(dirname "$m")"; cp "$corpus/$m" "$1/$m"; done
  cp "$corpus/vmlinux" "$1/vmlinux"
  chmod -R u+w "$1"
  strip_btf "$1"
}
strip_btf() { find "$1/kernel" -name '*.ko' -print0 | xargs -0 -P"$jobs" -n 16 sh -c 'for f; do objcopy --remove-section .BTF "$f"; done' sh; }

# build HOME TREE REMOTE LABEL: time one build through that home's daemon; prints the timing line.
build() {
  local home=$work/homes/$1 tree=$2 remote=$3 label=$4 t s out stop_s
  export BTFD_HOME=$home BTFD_REMOTE_CACHE=$remote BTFD_IDLE_TIMEOUT_MS=0
  $btfd start > /dev/null
  t=$(now); out=$($btfd build "$tree" --base "$tree/vmlinux" --pahole-flags "$flags" --json); s=$(elapsed "$t")
  t=$(now); $btfd stop > /dev/null; stop_s=$(elapsed "$t")
  unset BTFD_HOME BTFD_REMOTE_CACHE
  printf '%s %.2f restored=%s regenerated=%s failed=%s stop=%.2f\n' "$label" "$s" \
    "$(echo "$out" | field restored)" "$(echo "$out" | field regenerated)" "$(echo "$out" | field failed)" "$stop_s" >&2
  echo "$s"
}

echo "corpus: $corpus (${#MODS[@]} of $(find "$corpus/kernel" -name '*.ko' | wc -l) modules, every $every), $jobs cores, $(pahole --version), repeats $repeats, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
prepare_tree "$work/tree-a"
c_local=(); c_http=(); c_redis=()
for i in $(seq "$cold_repeats"); do
  # Each round starts from empty caches and empty servers (the last round's fill is what the restores read).
  rm -rf "$work/homes/local" "$work/homes/a-http" "$work/homes/a-redis" "$work/nginx/data/btfd"/*
  redis-cli -p "$redis_port" flushall > /dev/null
  strip_btf "$work/tree-a"
  c_local+=("$(build local "$work/tree-a" off "cold round $i: local only (pahole)")")
  strip_btf "$work/tree-a"
  c_http+=("$(build a-http "$work/tree-a" "$http_url" "cold round $i: + nginx upload")")
  strip_btf "$work/tree-a"
  c_redis+=("$(build a-redis "$work/tree-a" "$redis_url" "cold round $i: + Redis upload")")
done
prepare_tree "$work/tree-b"

r_http=(); r_redis=(); r_local=()
for i in $(seq "$repeats"); do
  strip_btf "$work/tree-b"; rm -rf "$work/homes/b-http"
  r_http+=("$(build b-http "$work/tree-b" "$http_url" "round $i: second home from nginx")")
  strip_btf "$work/tree-b"; rm -rf "$work/homes/b-redis"
  r_redis+=("$(build b-redis "$work/tree-b" "$redis_url" "round $i: second home from Redis")")
  strip_btf "$work/tree-b"
  r_local+=("$(build local "$work/tree-b" off "round $i: first home from its local cache")")
done

m() { printf '%s\n' "$@" | median; }
n=${#MODS[@]}
cold_local=$(m "${c_local[@]}"); cold_http=$(m "${c_http[@]}"); cold_redis=$(m "${c_redis[@]}")
rh=$(m "${r_http[@]}"); rr=$(m "${r_redis[@]}"); rl=$(m "${r_local[@]}")
echo
echo "| scenario, $n modules | seconds | ms/module | pahole / this |"
echo "|---|---|---|---|"
printf '| cold, local only: pahole regenerates every module (median of %s) | %.1f | %.0f | 1× |\n' "$cold_repeats" "$cold_local" "$(echo "1000 * $cold_local / $n" | bc -l)"
printf '| cold + upload to nginx, first home (median of %s) | %.1f | %.0f | %.2f× |\n' "$cold_repeats" "$cold_http" "$(echo "1000 * $cold_http / $n" | bc -l)" "$(echo "$cold_local / $cold_http" | bc -l)"
printf '| cold + upload to Redis, first home (median of %s) | %.1f | %.0f | %.2f× |\n' "$cold_repeats" "$cold_redis" "$(echo "1000 * $cold_redis / $n" | bc -l)" "$(echo "$cold_local / $cold_redis" | bc -l)"
printf '| second home, empty cache, restores all from nginx (median of %s) | %.2f | %.1f | %.0f× |\n' "$repeats" "$rh" "$(echo "1000 * $rh / $n" | bc -l)" "$(echo "$cold_local / $rh" | bc -l)"
printf '| second home, empty cache, restores all from Redis (median of %s) | %.2f | %.1f | %.0f× |\n' "$repeats" "$rr" "$(echo "1000 * $rr / $n" | bc -l)" "$(echo "$cold_local / $rr" | bc -l)"
printf '| first home restores all from its local cache (median of %s) | %.2f | %.1f | %.0f× |\n' "$repeats" "$rl" "$(echo "1000 * $rl / $n" | bc -l)" "$(echo "$cold_local / $rl" | bc -l)"
echo "cold rounds: local ${c_local[*]}; nginx ${c_http[*]}; Redis ${c_redis[*]}"
echo "restore rounds: nginx ${r_http[*]}; Redis ${r_redis[*]}; local ${r_local[*]}"
echo
echo "per-module remote hit latency, one module at a time:"
node "$here/dist/bench/remote-latency.js" --cache "$work/homes/a-http/cache" --remote "$http_url"
node "$here/dist/bench/remote-latency.js" --cache "$work/homes/a-redis/cache" --remote "$redis_url"
