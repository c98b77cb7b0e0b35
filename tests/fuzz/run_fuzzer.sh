#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over its seed corpus.
#   run_fuzzer.sh BINARY SEED_DIR SECONDS WORK_DIR
# New interesting inputs go to WORK_DIR/corpus (the checked-in seeds are only
# read); crashes to WORK_DIR/crash-*. Prints one summary line
#   fuzz <target>: <executions> executions in <s> s (of SECONDS), <n> finding(s), corpus <new> + <seeds> seeds
# and exits non-zero when the target found a crash, leak, timeout or
# sanitizer report.
set -uo pipefail
binary=$1 seeds=$2 seconds=$3 work=$4
name=$(basename "$binary")
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work/corpus"
dict=()
[ -f "$here/dict/$name.dict" ] && dict=(-dict="$here/dict/$name.dict")
# UBSan reports are findings too; leaks are checked (the fuzzers free what they allocate).
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
log="$work/fuzz.log"
start=$(date +%s)
"$binary" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 -max_len=65536 \
  -print_final_stats=1 -artifact_prefix="$work/" "${dict[@]}" "$work/corpus" "$seeds" >"$log" 2>&1
status=$?
elapsed=$(( $(date +%s) - start ))
execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
findings=$(ls "$work" | grep -cE '^(crash|leak|timeout|oom|slow-unit)-' || true)
echo "fuzz $name: ${execs:-0} executions in $elapsed s (of $seconds), $findings finding(s), corpus $(ls "$work/corpus" | wc -l) + $(ls "$seeds" | wc -l) seeds"
if [ $status -ne 0 ]; then
  tail -60 "$log"
  exit $status
fi
