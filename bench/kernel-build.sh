#!/usr/bin/env bash
# Issue-4 benchmark: a real Linux 6.1 kernel build (Debian's linux-source-6.1) with btfd's kbuild
# drop-in, `make PAHOLE=client/bin/btfd-pahole`, against the real pahole. Not run in CI: minutes.
#
#   bench/kernel-build.sh [all|prepare|measure|stable|interleaved|percall|report]  (default: all)
#
#   prepare      packages, source, config, first full build with the real pahole (idempotent)
#   measure      a: no-op make and `touch vmlinux && make` (real, then btfd warm; btfd's first run
#                is the cold one); c: `make clean && make` real, btfd cold, btfd "warm"; checks
#   stable       c again with vmlinux's BTF encoded without -j (pahole 1.24 -j is not
#                reproducible, so the base and every cache key change on each full build)
#   interleaved  real vs btfd (warm, reproducible base) full builds alternating, same load
#   percall      serial per-module cost: real pahole vs btfd-pahole fresh / restored
#   all          prepare + measure + stable + interleaved + percall, then the report
#
# Environment (all optional):
#   KBUILD_ROOT   scratch space outside the repo (default /root/kbuild; ~3 GB)
#   REPEATS       repetitions of each incremental scenario, medians reported (default 3)
#   FULL_REPEATS  repetitions of each full `make clean && make` scenario (default REPEATS)
#   JOBS          make -j (default nproc)
#   REAL_PAHOLE   the real pahole (default: `command -v pahole`)
#   SKIP_FULL=1   skip the full-rebuild scenarios (c)
#
# Every make runs as `make -jJOBS PAHOLE=<wrapper>` where the wrapper is one of two tiny sh
# scripts under $KBUILD_ROOT/bin that log their arguments (to count what kbuild runs) and exec
# either the real pahole or btfd-pahole. One wrapper per side, used for every make of that side,
# so kbuild sees the same PAHOLE throughout a scenario; both sides pay the same one extra exec.
#
# Prepare is idempotent: installs the Debian packages, unpacks the source, configures it
# (tinyconfig + 64BIT, MODULES, BPF_SYSCALL, DWARF5, BTF, BTF_MODULES and ~40 =m modules) and
# does one full build with the real pahole (timed). Results: $KBUILD_ROOT/results/.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
kb=${KBUILD_ROOT:-/root/kbuild}
src=$kb/linux
jobs=${JOBS:-$(nproc)}
repeats=${REPEATS:-3}
full_repeats=${FULL_REPEATS:-$repeats}
real_pahole=${REAL_PAHOLE:-$(command -v pahole || echo /usr/bin/pahole)}
shim=$here/client/bin/btfd-pahole
daemon_main=$here/dist/daemon/main.js
bpftool=$(command -v bpftool || echo /usr/sbin/bpftool)
res=$kb/results
warm_home=$kb/btfd-home
cold_home=$kb/btfd-home-cold
w_real=$kb/bin/pahole-real
w_btfd=$kb/bin/pahole-btfd
w_stable=$kb/bin/pahole-btfd-stable-base
# Reproducible build identity, so the two sides build the same bytes where kbuild allows it.
export KBUILD_BUILD_USER=bench KBUILD_BUILD_HOST=bench KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 2026'

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# ---------------------------------------------------------------------------------------------
# 1. prepare
# ---------------------------------------------------------------------------------------------
install_packages() {
  local pkgs='linux-source-6.1 flex bison bc libelf-dev libssl-dev dwarves cpio' missing=
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  [ -z "$missing" ] && return 0
  log "apt-get install$missing"
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}

unpack() {
  [ -f "$src/Makefile" ] && return 0
  log "unpacking /usr/src/linux-source-6.1.tar.xz into $src"
  mkdir -p "$kb"
  rm -rf "$kb/linux-source-6.1"
  tar -C "$kb" -xf /usr/src/linux-source-6.1.tar.xz
  mv "$kb/linux-source-6.1" "$src"
}

make_wrappers() {
  mkdir -p "$kb/bin"
  # Each call appends one line (its argv) to $PAHOLE_COUNT_LOG when set; O_APPEND keeps lines whole.
  printf '#!/bin/sh\n[ -n "$PAHOLE_COUNT_LOG" ] && printf "%%s\\n" "$*" >> "$PAHOLE_COUNT_LOG"\nexec %s "$@"\n' \
    "$real_pahole" >"$w_real"
  printf '#!/bin/sh\n[ -n "$PAHOLE_COUNT_LOG" ] && printf "%%s\\n" "$*" >> "$PAHOLE_COUNT_LOG"\nexec %s "$@"\n' \
    "$shim" >"$w_btfd"
  # Variant for the `stable` scenario: the shim with BTFD_STABLE_BASE=1, which drops -j from the
  # non-module (vmlinux) call, because pahole 1.24 -j orders vmlinux's types differently on every
  # run (same input, other bytes), and a base that changes on every full build makes every
  # module's cache key new.
  printf '#!/bin/sh\n[ -n "$PAHOLE_COUNT_LOG" ] && printf "%%s\\n" "$*" >> "$PAHOLE_COUNT_LOG"\nBTFD_STABLE_BASE=1 exec %s "$@"\n' \
    "$shim" >"$w_stable"
  chmod +x "$w_real" "$w_btfd" "$w_stable"
}

# =m options asked for; whatever kconfig keeps is reported.
module_opts='EXT2_FS FAT_FS VFAT_FS MSDOS_FS ISO9660_FS UDF_FS ROMFS_FS CRAMFS MINIX_FS QNX4FS_FS BFS_FS
  EFS_FS NLS_CODEPAGE_437 NLS_CODEPAGE_850 NLS_CODEPAGE_852 NLS_CODEPAGE_866 NLS_CODEPAGE_1250
  NLS_CODEPAGE_1251 NLS_ISO8859_1 NLS_ISO8859_2 NLS_ISO8859_15 NLS_KOI8_R NLS_ASCII NLS_UTF8
  CRC_ITU_T CRC7 CRC8 CRC4 LIBCRC32C CRC_CCITT CRC_T10DIF ZLIB_DEFLATE
  CRYPTO_SHA1 CRYPTO_SHA256 CRYPTO_SHA512 CRYPTO_MD4 CRYPTO_MD5 CRYPTO_CRC32C CRYPTO_XTS CRYPTO_CBC
  CRYPTO_ECB CRYPTO_CTR CRYPTO_HMAC CRYPTO_DES CRYPTO_AES CRYPTO_BLOWFISH CRYPTO_TWOFISH
  CRYPTO_SERPENT CRYPTO_CAST5 CRYPTO_WP512 CRYPTO_RMD160'

configure() {
  if [ -f "$src/.config" ] && grep -q '^CONFIG_DEBUG_INFO_BTF_MODULES=y' "$src/.config" &&
     [ -f "$kb/.configured" ]; then return 0; fi
  log "configuring: tinyconfig + BTF + modules"
  cd "$src"
  make tinyconfig >"$res/config.log" 2>&1
  local sc=./scripts/config dwarf=${DWARF:-5}
  $sc -e 64BIT -e MODULES -e MODULE_UNLOAD -e BPF -e BPF_SYSCALL -e DEBUG_KERNEL -e PRINTK \
      -e BLOCK -e MISC_FILESYSTEMS -e MULTIUSER -e PROC_FS -e SYSFS -e FILE_LOCKING -e CRYPTO -e EXPERT \
      -d DEBUG_INFO_NONE -d DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT -d DEBUG_INFO_REDUCED -d DEBUG_INFO_SPLIT \
      -e DEBUG_INFO -e "DEBUG_INFO_DWARF$dwarf" -e DEBUG_INFO_BTF -e DEBUG_INFO_BTF_MODULES \
      -d MODULE_SIG -d MODVERSIONS -d LTO_CLANG -d GCC_PLUGINS -d KERNEL_ZSTD
  for m in $module_opts; do $sc -m "$m"; done
  make olddefconfig >>"$res/config.log" 2>&1
  # kconfig silently drops options whose dependencies are missing: verify what matters.
  local missing=
  for o in 64BIT MODULES MODULE_UNLOAD BPF BPF_SYSCALL DEBUG_INFO "DEBUG_INFO_DWARF$dwarf" \
           DEBUG_INFO_BTF DEBUG_INFO_BTF_MODULES; do
    grep -q "^CONFIG_$o=y" .config || missing="$missing $o"
  done
  if [ -n "$missing" ]; then
    if [ "$dwarf" = 5 ] && [ -z "${DWARF:-}" ]; then
      log "DWARF5 config lost:$missing; retrying with DWARF4"
      DWARF=4 configure
      return
    fi
    echo "kconfig dropped:$missing (see $res/config.log)" >&2
    exit 1
  fi
  touch "$kb/.configured"
}

# Module BTF section bytes (for equality checks) and vmlinux's .BTF digest.
btf_digest() { objcopy --dump-section .BTF=/dev/stdout "$1" /dev/null 2>/dev/null | sha256sum | cut -c1-16; }

# One timed make; prints seconds. $1 wrapper, $2 label, rest: make targets.
timed_make() {
  local wrapper=$1 label=$2; shift 2
  local count=$res/pahole-calls.$label.log
  : >"$count"
  local t0; t0=$(now)
  if ! PAHOLE_COUNT_LOG=$count make -C "$src" -j"$jobs" PAHOLE="$wrapper" "$@" \
      >"$res/make.$label.log" 2>&1; then
    echo "make failed ($label): see $res/make.$label.log" >&2
    tail -20 "$res/make.$label.log" >&2
    exit 1
  fi
  local s; s=$(echo "$(now) - $t0" | bc -l)
  local total module
  total=$(wc -l <"$count")
  module=$(grep -c -- '--btf_base' "$count" || true)
  # btfd-pahole's BTFD_SHIM_DEBUG lines say who answered each module call.
  local shim_info=
  if grep -q '^btfd-pahole: ' "$res/make.$label.log"; then
    shim_info=" shim:"
    local o
    for o in fresh restored regenerated; do
      shim_info="$shim_info $o=$(grep -c "^btfd-pahole: .*: $o by the daemon" "$res/make.$label.log" || true)"
    done
    shim_info="$shim_info fallback=$(grep -c '^btfd-pahole: running pahole' "$res/make.$label.log" || true)"
  fi
  printf '%s\t%.2f\tpahole_calls=%s module_btf_calls=%s relinked_ko=%s%s load=%s\n' "$label" "$s" \
    "$total" "$module" "$(grep -c '  LD \[M\] .*\.ko$' "$res/make.$label.log" || true)" "$shim_info" "$(load)" >>"$res/runs.tsv"
  printf '%.2f\n' "$s"
}

first_build() {
  if [ -f "$kb/.built" ] && [ -f "$src/vmlinux" ]; then return 0; fi
  log "first full build with the real pahole (make -j$jobs all)"
  local s; s=$(timed_make "$w_real" first-build all)
  printf 'first_build_real_s=%s\n' "$s" >"$res/first-build.env"
  touch "$kb/.built"
  log "first build: ${s}s"
}

describe() {
  cd "$src"
  local mods; mods=$(find . -name '*.ko' | wc -l)
  {
    echo "kernel=$(make -s kernelversion) ($(grep -m1 '^SUBLEVEL' Makefile))"
    echo "modules=$mods"
    echo "module_list=$(find . -name '*.ko' -printf '%f\n' | sed 's/\.ko$//' | sort | tr '\n' ' ')"
    echo "config=$(grep -E '^CONFIG_(64BIT|MODULES|BPF_SYSCALL|DEBUG_INFO_DWARF[45]|DEBUG_INFO_BTF|DEBUG_INFO_BTF_MODULES|PAHOLE_VERSION)=' .config | tr '\n' ' ')"
    echo "pahole=$($real_pahole --version) flags=$(PAHOLE=$real_pahole scripts/pahole-flags.sh)"
    echo "gcc=$(gcc -dumpfullversion) cores=$(nproc)"
  } >"$res/describe.env"
  cat "$res/describe.env" >&2
}

prepare() {
  mkdir -p "$res"
  install_packages
  unpack
  make_wrappers
  configure
  first_build
  describe
}

# ---------------------------------------------------------------------------------------------
# 2. measure
# ---------------------------------------------------------------------------------------------
daemon_pid=
sock_of() { echo "$1/run/btfd.sock"; }
api() { curl -sS --max-time 10 --unix-socket "$(sock_of "$1")" "http://btfd$2"; }

# Start a daemon on home $1 in the background (no idle exit), wait until it answers.
start_daemon() {
  local home=$1
  stop_daemon
  mkdir -p "$home"
  BTFD_HOME=$home nohup node "$daemon_main" --idle-timeout-ms 0 --pahole "$real_pahole" \
    >>"$res/daemon.$(basename "$home").out" 2>&1 &
  daemon_pid=$!
  echo "$daemon_pid" >"$kb/daemon.pid"
  local i
  for i in $(seq 1 100); do
    if api "$home" /v1/status >/dev/null 2>&1; then
      # Wait for reconcile ("warming") to end so it does not compete with the build.
      for _ in $(seq 1 100); do
        [ "$(api "$home" /v1/status | jq -r .warming)" = false ] && break
        sleep 0.2
      done
      log "daemon $daemon_pid up on $home"
      return 0
    fi
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$res/daemon.$(basename "$home").out" >&2; echo "daemon exited" >&2; exit 1; }
    sleep 0.2
  done
  echo "daemon did not answer on $(sock_of "$home")" >&2
  exit 1
}

stop_daemon() {
  [ -n "$daemon_pid" ] || return 0
  kill "$daemon_pid" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
  daemon_pid=
  rm -f "$kb/daemon.pid"
}
trap stop_daemon EXIT

# Cache counters "hits misses entries" of the daemon on home $1.
stats() { api "$1" /v1/cache/stats | jq -r '"\(.hits) \(.misses) \(.entries)"'; }

# One timed btfd make, with the cache's hit/miss deltas appended to runs.tsv. $1 home, $2 label, rest: targets.
timed_btfd() {
  local home=$1 label=$2 wrapper=${BTFD_WRAPPER:-$w_btfd}; shift 2
  local before after s
  before=$(stats "$home")
  s=$(BTFD_HOME=$home BTFD_PAHOLE=$real_pahole BTFD_SHIM_DEBUG=1 timed_make "$wrapper" "$label" "$@")
  after=$(stats "$home")
  set -- $before $after
  printf '%s\tcache: hits+%s misses+%s entries=%s\n' "$label" $(($4 - $1)) $(($5 - $2)) "$6" >>"$res/runs.tsv"
  echo "$s"
}

vmlinux_btf() { printf '%s\tvmlinux .BTF %s\n' "$1" "$(btf_digest "$src/vmlinux")" >>"$res/runs.tsv"; }

# Copy every .ko (relative paths kept) and vmlinux to $1.
snapshot() {
  rm -rf "$1"; mkdir -p "$1"
  (cd "$src" && find . -name '*.ko' -print0 | cpio -0pdm --quiet "$1")
  cp "$src/vmlinux" "$1/vmlinux"
}

# bpftool must read every module's BTF against vmlinux; prints "ok/total".
bpftool_check() {
  local ok=0 total=0 f
  while IFS= read -r -d '' f; do
    total=$((total + 1))
    if "$bpftool" -B "$src/vmlinux" btf dump file "$f" >/dev/null 2>>"$res/bpftool.err"; then ok=$((ok + 1)); fi
  done < <(find "$src" -name '*.ko' -print0)
  echo "$ok/$total"
}

# compare-btf: TREE's modules vs PRISTINE's, both against BASE.
compare() { node "$here/dist/bench/compare-btf.js" "$1" "$2" "$3"; }

row() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$res/table.tsv"; }

measure() {
  mkdir -p "$res"
  [ -f "$kb/.built" ] || { echo "run '$0 prepare' first" >&2; exit 1; }
  [ -x "$shim" ] || { echo "no executable $shim yet" >&2; exit 1; }
  [ -f "$daemon_main" ] || { echo "no $daemon_main: npm run build" >&2; exit 1; }
  [ -f "$here/dist/bench/compare-btf.js" ] || { echo "no dist/bench/compare-btf.js: npm run build" >&2; exit 1; }
  make_wrappers
  : >"$res/table.tsv"; : >"$res/checks.txt"
  printf '# %s load %s\n' "$(date -Is)" "$(load)" >>"$res/runs.tsv"
  local i a b

  # --- a. touch vmlinux && make: every module's BTF step runs again ---------------------------
  log "a/real: settle (make all once with PAHOLE=$w_real)"
  timed_make "$w_real" a-real-settle all >/dev/null
  a=; b=
  for i in $(seq 1 "$repeats"); do
    a="$a $(timed_make "$w_real" "noop-real-$i" all)"
    touch "$src/vmlinux"
    b="$b $(timed_make "$w_real" "a-real-$i" all)"
    log "a/real #$i: $(tail -n1 <<<"${b// /$'\n'}")s"
  done
  local noop_real a_real
  noop_real=$(tr ' ' '\n' <<<"$a" | grep . | median)
  a_real=$(tr ' ' '\n' <<<"$b" | grep . | median)
  snapshot "$kb/pristine-a"

  rm -rf "$warm_home"
  start_daemon "$warm_home"
  log "a/btfd: first run fills the cache"
  touch "$src/vmlinux"
  local a_btfd_first; a_btfd_first=$(timed_btfd "$warm_home" a-btfd-first all)
  a=; b=
  for i in $(seq 1 "$repeats"); do
    a="$a $(timed_btfd "$warm_home" "noop-btfd-$i" all)"
    touch "$src/vmlinux"
    b="$b $(timed_btfd "$warm_home" "a-btfd-$i" all)"
    log "a/btfd #$i: $(tail -n1 <<<"${b// /$'\n'}")s"
  done
  local noop_btfd a_btfd
  noop_btfd=$(tr ' ' '\n' <<<"$a" | grep . | median)
  a_btfd=$(tr ' ' '\n' <<<"$b" | grep . | median)
  row "no-op \`make all\` (nothing changed)" "$noop_real" "$noop_btfd"
  row "\`touch vmlinux && make all\` (btfd: warm cache)" "$a_real" "$a_btfd"
  row "\`touch vmlinux && make all\`, btfd's first run (cold cache)" "$a_real" "$a_btfd_first"
  {
    echo "a: btfd tree vs real-pahole tree (same vmlinux): $(compare "$src" "$kb/pristine-a" "$src/vmlinux")"
    echo "a: bpftool -B vmlinux btf dump file X.ko: $(bpftool_check) modules read"
  } | tee -a "$res/checks.txt" >&2

  [ "${SKIP_FULL:-}" = 1 ] && { stop_daemon; return 0; }

  # --- c. make clean && make all ------------------------------------------------------------
  stop_daemon
  b=
  for i in $(seq 1 "$full_repeats"); do
    make -C "$src" PAHOLE="$w_real" clean >/dev/null
    b="$b $(timed_make "$w_real" "c-real-$i" all)"; vmlinux_btf "c-real-$i"
    log "c/real #$i: $(tail -n1 <<<"${b// /$'\n'}")s"
  done
  local c_real; c_real=$(tr ' ' '\n' <<<"$b" | grep . | median)

  b=
  for i in $(seq 1 "$full_repeats"); do
    rm -rf "$cold_home"
    start_daemon "$cold_home"
    make -C "$src" PAHOLE="$w_btfd" clean >/dev/null
    b="$b $(timed_btfd "$cold_home" "c-cold-$i" all)"; vmlinux_btf "c-cold-$i"
    log "c/btfd cold #$i: $(tail -n1 <<<"${b// /$'\n'}")s"
  done
  stop_daemon
  local c_cold; c_cold=$(tr ' ' '\n' <<<"$b" | grep . | median)

  # The warm home holds every key seen so far (scenario a and earlier full builds).
  start_daemon "$warm_home"
  b=
  for i in $(seq 1 "$full_repeats"); do
    make -C "$src" PAHOLE="$w_btfd" clean >/dev/null
    b="$b $(timed_btfd "$warm_home" "c-warm-$i" all)"; vmlinux_btf "c-warm-$i"
    log "c/btfd warm #$i: $(tail -n1 <<<"${b// /$'\n'}")s"
  done
  local c_warm; c_warm=$(tr ' ' '\n' <<<"$b" | grep . | median)
  row "\`make clean && make all\`, btfd cold cache" "$c_real" "$c_cold"
  row "\`make clean && make all\`, btfd warm cache" "$c_real" "$c_warm"

  # Correctness of the full btfd build: regenerate every module's BTF with the real pahole on
  # the same vmlinux (touch vmlinux; make with the real pahole) and compare with btfd's.
  echo "c: bpftool -B vmlinux btf dump file X.ko after the btfd build: $(bpftool_check) modules read" | tee -a "$res/checks.txt" >&2
  snapshot "$kb/btfd-full"
  stop_daemon
  touch "$src/vmlinux"
  timed_make "$w_real" c-check-real all >/dev/null
  echo "c: btfd full build vs real pahole on the same vmlinux: $(compare "$kb/btfd-full" "$src" "$src/vmlinux")" | tee -a "$res/checks.txt" >&2
}

# Full rebuilds with a reproducible base (vmlinux's BTF encoded without -j, see make_wrappers):
# the first build fills the warm cache, the next FULL_REPEATS are measured; every module should
# then be restored. Appends a row to the table against scenario c's real-pahole median.
stable() {
  [ -f "$res/table.tsv" ] || { echo "run '$0 measure' first" >&2; exit 1; }
  make_wrappers
  local c_real i b
  c_real=$(awk -F'\t' '$1 ~ /^c-real-[0-9]+$/ && $2 ~ /^[0-9.]+$/ {print $2}' "$res/runs.tsv" | median)
  start_daemon "$warm_home"
  export BTFD_WRAPPER=$w_stable
  make -C "$src" PAHOLE="$w_stable" clean >/dev/null
  timed_btfd "$warm_home" stable-fill all >/dev/null; vmlinux_btf stable-fill
  b=
  for i in $(seq 1 "$full_repeats"); do
    make -C "$src" PAHOLE="$w_stable" clean >/dev/null
    b="$b $(timed_btfd "$warm_home" "stable-$i" all)"; vmlinux_btf "stable-$i"
    log "stable-base btfd warm #$i: $(tail -n1 <<<"${b// /$'\n'}")s"
  done
  row "\`make clean && make all\`, btfd warm cache, vmlinux BTF without -j (reproducible base; real = c's median, other load)" "$c_real" \
    "$(tr ' ' '\n' <<<"$b" | grep . | median)"
  echo "stable: bpftool -B vmlinux btf dump file X.ko: $(bpftool_check) modules read" | tee -a "$res/checks.txt" >&2
  snapshot "$kb/btfd-stable"
  stop_daemon
  touch "$src/vmlinux"
  timed_make "$w_stable" stable-check-real all >/dev/null
  echo "stable: btfd build vs real pahole on the same vmlinux (daemon stopped: the shim falls back to pahole): $(compare "$kb/btfd-stable" "$src" "$src/vmlinux")" | tee -a "$res/checks.txt" >&2
}

# Full rebuilds alternating real pahole and btfd (warm cache, reproducible base) in each repeat,
# so both sides see the same background load (this machine's load drifts over minutes).
interleaved() {
  [ -f "$res/table.tsv" ] || { echo "run '$0 measure' first" >&2; exit 1; }
  make_wrappers
  local i a="" b=""
  export BTFD_WRAPPER=$w_stable
  for i in $(seq 1 "$full_repeats"); do
    stop_daemon
    make -C "$src" PAHOLE="$w_real" clean >/dev/null
    a="$a $(timed_make "$w_real" "il-real-$i" all)"; vmlinux_btf "il-real-$i"
    start_daemon "$warm_home"
    make -C "$src" PAHOLE="$w_stable" clean >/dev/null
    b="$b $(timed_btfd "$warm_home" "il-btfd-$i" all)"; vmlinux_btf "il-btfd-$i"
    log "interleaved #$i: real $(tail -n1 <<<"${a// /$'\n'}")s, btfd $(tail -n1 <<<"${b// /$'\n'}")s"
  done
  stop_daemon
  row "\`make clean && make all\`, interleaved: real vs btfd warm cache + reproducible base" \
    "$(tr ' ' '\n' <<<"$a" | grep . | median)" "$(tr ' ' '\n' <<<"$b" | grep . | median)"
}

# Per-call cost, serial, one module at a time (no make): the real pahole vs btfd-pahole answering
# `fresh` (module already holds the cached BTF) and `restored` (its .BTF stripped first), on a
# copy of the tree's modules. Explains the incremental rows: these modules are small.
percall() {
  make_wrappers
  local dir=$kb/percall flags n t0 f s_real s_fresh s_restore
  snapshot "$dir"
  flags=$(cd "$src" && PAHOLE=$real_pahole scripts/pahole-flags.sh)
  n=$(cd "$dir" && find . -name '*.ko' | wc -l)
  start_daemon "$warm_home"
  export BTFD_HOME=$warm_home BTFD_PAHOLE=$real_pahole LLVM_OBJCOPY=objcopy
  cd "$dir"
  # shellcheck disable=SC2086
  find . -name '*.ko' | while read -r f; do "$shim" -J $flags --btf_base vmlinux "$f"; done
  t0=$(now)
  # shellcheck disable=SC2086
  find . -name '*.ko' | while read -r f; do "$real_pahole" -J $flags --btf_base vmlinux "$f"; done
  s_real=$(echo "$(now) - $t0" | bc -l)
  t0=$(now)
  # shellcheck disable=SC2086
  find . -name '*.ko' | while read -r f; do "$shim" -J $flags --btf_base vmlinux "$f"; done
  s_fresh=$(echo "$(now) - $t0" | bc -l)
  find . -name '*.ko' -exec objcopy --remove-section .BTF {} \;
  t0=$(now)
  # shellcheck disable=SC2086
  find . -name '*.ko' | while read -r f; do "$shim" -J $flags --btf_base vmlinux "$f"; done
  s_restore=$(echo "$(now) - $t0" | bc -l)
  cd - >/dev/null
  stop_daemon
  unset BTFD_HOME
  printf 'percall\tmodules=%s real_ms=%.1f shim_fresh_ms=%.1f shim_restored_ms=%.1f (per module, serial) load=%s\n' "$n" \
    "$(echo "$s_real * 1000 / $n" | bc -l)" "$(echo "$s_fresh * 1000 / $n" | bc -l)" \
    "$(echo "$s_restore * 1000 / $n" | bc -l)" "$(load)" | tee -a "$res/runs.tsv" >&2
  echo "per call, serial, $n modules: real pahole $(echo "$s_real * 1000 / $n" | bc -l | xargs printf %.1f) ms, btfd-pahole fresh $(echo "$s_fresh * 1000 / $n" | bc -l | xargs printf %.1f) ms, restored $(echo "$s_restore * 1000 / $n" | bc -l | xargs printf %.1f) ms" >>"$res/checks.txt"
}

# ---------------------------------------------------------------------------------------------
# 3. report
# ---------------------------------------------------------------------------------------------
report() {
  echo
  echo "## Kernel build with btfd-pahole ($(date -I))"
  echo
  sed 's/^/    /' "$res/describe.env" | cut -c1-300
  [ -f "$res/first-build.env" ] && sed 's/^/    /' "$res/first-build.env"
  echo "    jobs=$jobs repeats=$repeats full_repeats=$full_repeats load_now=$(load)"
  echo
  echo "| scenario | real pahole s | btfd-pahole s | ratio (btfd/real) |"
  echo "| --- | ---: | ---: | ---: |"
  awk -F'\t' '{r = ($2 > 0) ? sprintf("%.2f", $3 / $2) : "n/a"; printf "| %s | %.2f | %.2f | %s |\n", $1, $2, $3, r}' "$res/table.tsv"
  echo
  echo "Checks:"
  sed 's/^/- /' "$res/checks.txt"
  echo
  echo "Per run (seconds, pahole calls seen by the PAHOLE wrapper, cache deltas): $res/runs.tsv"
  echo
  echo "Commands (src=$src, JOBS=$jobs; W=\$KBUILD_ROOT/bin/pahole-{real,btfd}, sh wrappers that log argv and exec $real_pahole or $shim):"
  echo "    a: make -jJOBS PAHOLE=W all; then REPEATS x { make -jJOBS PAHOLE=W all (no-op); touch vmlinux; make -jJOBS PAHOLE=W all }"
  echo "    btfd side: BTFD_HOME=$warm_home node $daemon_main --idle-timeout-ms 0 --pahole $real_pahole &  (first touch+make warms the cache)"
  echo "    c: REPEATS x { make PAHOLE=W clean; make -jJOBS PAHOLE=W all }; cold = fresh BTFD_HOME ($cold_home) and daemon per run"
  echo "    stable: as c with W=pahole-btfd-stable-base (drops -j from the vmlinux call only), warm home filled by one build first"
  echo "    interleaved: FULL_REPEATS x { clean; real build; clean; btfd stable-base warm build }"
  echo "    checks: node dist/bench/compare-btf.js TREE PRISTINE vmlinux; bpftool -B vmlinux btf dump file X.ko"
  echo "    note: c's 'warm cache' gets 0 hits: pahole 1.24 -j writes vmlinux's .BTF differently each build (digests in runs.tsv)"
}

case "${1:-all}" in
  prepare) prepare ;;
  measure) measure; report | tee "$res/report.md" ;;
  stable) stable; report | tee "$res/report.md" ;;
  interleaved) interleaved; report | tee "$res/report.md" ;;
  percall) percall; report | tee "$res/report.md" ;;
  report) report ;;
  all) prepare; measure; stable; interleaved; percall; report | tee "$res/report.md" ;;
  *) echo "usage: $0 [all|prepare|measure|stable|interleaved|percall|report]" >&2; exit 2 ;;
esac
