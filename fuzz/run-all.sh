#!/usr/bin/env bash
# Fuzz every target for SECONDS (default 300) each, one after another, in
# one single-threaded process each, then print a summary line per target.
#
#   fuzz/run-all.sh [SECONDS] [LOGDIR]
#
# Builds once with the stable-toolchain command from fuzz/README.md, copies
# the binaries aside (so a rebuild of the workspace during the run cannot
# change them), writes fuzz/corpus seeds if missing, and runs each binary
# on fuzz/corpus/<target> with crashes going to fuzz/artifacts/<target>/.
set -euo pipefail
secs=${1:-300}
logs=${2:-$(mktemp -d /tmp/obhut-fuzz-logs.XXXXXX)}
cd "$(dirname "$0")"
mkdir -p "$logs/bin"
cargo fuzz build --fuzz-dir . --sanitizer none --debug-assertions
targets=$(cargo fuzz list --fuzz-dir .)
[ -d corpus ] || ./seed.sh > /dev/null
for t in $targets; do
  cp "target/x86_64-unknown-linux-gnu/release/$t" "$logs/bin/"
  mkdir -p "corpus/$t" "artifacts/$t"
done
for t in $targets; do
  rc=0
  "$logs/bin/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" \
    -max_total_time="$secs" -timeout=60 -print_final_stats=1 \
    > "$logs/$t.log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$t.log")
  last=$(grep -E '^#[0-9]+' "$logs/$t.log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
  echo "$t: rc=$rc execs=$execs exec/s=$speed $last"
done
echo "logs in $logs"
