#!/usr/bin/env bash
# Regenerates the sample clips in Clips/ from FFmpeg's built-in synthetic sources
# (no third-party footage, so the clips carry the project's own licence).
set -euo pipefail
cd "$(dirname "$0")/../Clips"
enc=(-c:v libx264 -preset slow -crf 28 -pix_fmt yuv420p -movflags +faststart -an)
ffmpeg -v error -y -f lavfi -i "testsrc2=size=320x240:rate=25:duration=4" "${enc[@]}" testsrc2_320x240.mp4
ffmpeg -v error -y -f lavfi -i "mandelbrot=size=320x240:rate=25" -t 4 "${enc[@]}" mandelbrot_zoom.mp4
ffmpeg -v error -y -f lavfi -i "life=size=320x240:rate=25:mold=10:ratio=0.1:death_color=#C83232:life_color=#00ff00" -t 4 \
  -vf "scale=320:240:flags=neighbor" "${enc[@]}" game_of_life.mp4
ls -l

# One clip per class of the synthetic benchmark (seed 2: neither the ablations' data, seed 0,
# nor the default model's, seed 1), for `make demo` with the default model.
cd ..
make build >/dev/null
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
.build/release/nlnet synth --out "$tmp" --train 0 --val 1 --seed 2 --quiet
mkdir -p Clips/synthetic
for c in left_to_right right_to_left colours_match colours_differ; do cp "$tmp/val/${c}_0000.mp4" "Clips/synthetic/$c.mp4"; done
ls -l Clips/synthetic
