#!/usr/bin/env bash
# Start a backend in .demo/, run one job against it from the command line, stop the backend.
# Until the generation methods land, the job uses `probe`: a weight-free method that walks the
# whole path (submit, progress with ETA, previews, result arrays, GLB) and makes a tetrahedron.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DATA=.demo/data
OUT=.demo/out
export DISTILL3D_PLUGINS=backend.bench.probe
rm -f "$DATA/connection.json"
mkdir -p "$DATA" "$OUT"

"$BIN/distill3d" serve --data-dir "$DATA" --bind tcp://127.0.0.1:0 --device auto &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  [ -f "$DATA/connection.json" ] && break
  kill -0 "$SERVER" 2>/dev/null || { echo "the backend did not start" >&2; exit 1; }
  sleep 0.1
done

"$BIN/distill3d" info --connect "$DATA/connection.json"
"$BIN/distill3d" generate --connect "$DATA/connection.json" --method probe \
  --prompt "a red torus" --set steps=40 --set step_seconds=0.05 --out "$OUT/probe.glb"
"$BIN/distill3d" jobs --connect "$DATA/connection.json" --limit 5
echo "result: $OUT/probe.glb (+ $OUT/probe.arrays.npz, previews in $OUT/probe.previews/)"
