#!/usr/bin/env bash
# The CLI's start cost: `btfd status --json` against a running daemon (what an IDE or a shell
# prompt polls), and `btfd --version` (no daemon, no request), each against `node -e 0` measured
# in the same run, with hyperfine (Debian: apt-get install hyperfine).
#
#   bench/cli-start.sh            RUNS=30 (runs per command), WARMUP=5
#
# Prints hyperfine's table and the ratios; the issue's bar is status --json <= 2 x node -e 0.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
runs=${RUNS:-30}
warmup=${WARMUP:-5}
command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install hyperfine" >&2; exit 1; }
[ -f "$here/dist/client/main.js" ] || { echo "run npm run build first" >&2; exit 1; }

# A short private home: the socket path must stay under 108 bytes.
home=$(mktemp -d /tmp/btfd-clibench-XXXXXX)
export BTFD_HOME=$home
cli=$here/dist/client/main.js
cleanup() {
  node "$cli" stop >/dev/null 2>&1 || true
  rm -rf "$home"
}
trap cleanup EXIT
node "$cli" start >/dev/null

hyperfine -N --warmup "$warmup" --runs "$runs" --export-json "$home/result.json" \
  'node -e 0' "node $cli status --json" "node $cli --version"
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results;
  const base = r[0].median;
  for (const x of r) console.log(`${x.command.replace(/\S*\/dist\/client\/main\.js/, "btfd")}: median ${(x.median * 1000).toFixed(0)} ms, ${(x.median / base).toFixed(2)} x node -e 0`);
' "$home/result.json"
