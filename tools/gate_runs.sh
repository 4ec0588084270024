#!/usr/bin/env bash
# N runs of the A/B gate in a temporary clone of this repository's HEAD, tabulated by
# `offload spread`: `make gate-aa` (HEAD against itself: every failed run is a false positive)
# and `make gate-sensitivity` (a known slowdown committed on top of HEAD in the clone: every
# run that passes is a regression the gate missed). The clone fixes what is measured when the
# loop starts, so this tree can be edited meanwhile.
#
# usage: tools/gate_runs.sh BIN_DIR RECORDS N PAIRS SLOWDOWN [GATE_ARG ...]
#   SLOWDOWN: none (A/A) or a name from tests/factories/slowdowns.py
set -euo pipefail
bin="$(cd "$1" && pwd)"; records="$2"; runs="$3"; pairs="$4"; slowdown="$5"; shift 5

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
clone="$tmp/clone"
git clone -q . "$clone"
mkdir -p "$records"; : > "$records/results.tsv"
if [ "$slowdown" = none ]; then
  base=HEAD; known=()
  echo "A/A: HEAD ($(git -C "$clone" rev-parse --short HEAD)) on both sides, in $clone"
else
  what="$("$bin/python" tests/factories/slowdowns.py "$slowdown" "$clone")"; echo "$what"
  git -C "$clone" commit -qam "slowdown $what"
  base=HEAD~1; known=(--known-change "$what")
fi

for i in $(seq 1 "$runs"); do
  code=0; (cd "$clone" && "$bin/offload" gate --base "$base" --pairs "$pairs" --reports-dir "$records" "$@") || code=$?
  if [ "$code" = 130 ]; then
    echo "interrupted: $((i - 1)) of $runs gate runs finished ($records/results.tsv)"; exit 130
  fi
  printf '%s\t%s\t%s\n' "$i" "$code" "$(readlink -f "$records/latest")" >> "$records/results.tsv"
done
if [ "$slowdown" = none ]; then
  echo "A/A: $(awk -F'\t' '$2 != 0' "$records/results.tsv" | wc -l) of $runs gate runs did not pass (run, exit code, records: $records/results.tsv)"
fi
"$bin/offload" spread "$records/runs" "${known[@]}" --markdown "$records/spread.md"
