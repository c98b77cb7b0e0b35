#!/usr/bin/env bash
# Runs every fuzz target built in BUILD/fuzz for SECONDS each (make fuzz).
#   run_all.sh BUILD SECONDS
# Appends one line per target to BUILD/fuzz/summary.txt (and prints it);
# exits non-zero if any target found something (its log tail is printed).
set -uo pipefail
build=$1 seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
summary="$build/fuzz/summary.txt"
echo "# $(date -u +%FT%TZ) FUZZ_SECONDS=$seconds" >>"$summary"
failed=0
for binary in "$build"/fuzz/fuzz_*; do
  [ -x "$binary" ] && [ -f "$binary" ] || continue
  name=$(basename "$binary")
  line=$("$here/run_fuzzer.sh" "$binary" "$here/corpus/$name" "$seconds" "$build/fuzz/run-$name")
  status=$?
  echo "$line" | head -1 | tee -a "$summary"
  if [ $status -ne 0 ]; then
    echo "$line" | tail -n +2
    failed=1
  fi
done
exit $failed
