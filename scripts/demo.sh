#!/usr/bin/env bash
# Start a backend in .demo/, run a DTC123 generation and a PRD one against it from the command line, stop the backend.
# No weights are needed: DTC123's input is a synthetic object's render and the synthetic teacher stands in for
# Zero-1-to-3 (tiny: about a minute on 2 CPU cores; DTC123_PRESET=fast for a better run of about 8 minutes); PRD runs
# the tiny student that ships with the project. The backend's own log goes to .demo/data/logs/server.log.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
DATA=.demo/data
OUT=.demo/out
PRESET=${DTC123_PRESET:-tiny}
rm -f "$DATA/connection.json"
mkdir -p "$DATA" "$OUT"

"$BIN/distill3d" --log-level WARNING serve --data-dir "$DATA" --bind tcp://127.0.0.1:0 --device auto &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  [ -f "$DATA/connection.json" ] && break
  kill -0 "$SERVER" 2>/dev/null || { echo "the backend did not start" >&2; exit 1; }
  sleep 0.1
done

"$BIN/distill3d" info --connect "$DATA/connection.json"
"$BIN/distill3d" world snowman --seed 3 --out "$OUT/snowman-truth.glb"
echo "no input image and no weights: DTC123 reconstructs the synthetic snowman with the synthetic teacher"
"$BIN/distill3d" generate --connect "$DATA/connection.json" --method dtc123 --teacher synthetic \
  --target "$OUT/snowman-truth.glb" --camera-elevation 20 --camera-azimuth 30 --preset "$PRESET" --out "$OUT/snowman.glb"
echo "a prompt to a mesh with PRD's demo student (trained here on the synthetic text world: 'a <colour> <shape>')"
"$BIN/distill3d" generate --connect "$DATA/connection.json" --method prd --preset demo --prompt "a blue torus" --seed 1 \
  --out "$OUT/blue-torus.glb"
"$BIN/distill3d" jobs --connect "$DATA/connection.json" --limit 5
echo "results: $OUT/snowman.glb (+ $OUT/snowman.turntable.png, $OUT/snowman.arrays.npz, previews in $OUT/snowman.previews/),"
echo "  the ground truth it was made from: $OUT/snowman-truth.glb; PRD: $OUT/blue-torus.glb"
echo "open them in Blender (File > Import > glTF 2.0), or from Python with bpy (make test installs it into .venv)"
