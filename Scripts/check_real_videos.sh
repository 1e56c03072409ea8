#!/usr/bin/env bash
# Checks nlnet's decoder on real video files made by other software (issue 16, item 2):
# files shipped in Debian documentation, test-data and game packages, compared bit-exactly
# with the ffmpeg CLI. ffmpeg-generated test clips miss bugs that such files find (B-frames
# in AVI, old Matroska, several video streams, odd timestamps). Not part of `make test`:
# it downloads ~460 MB of packages once and takes minutes.
#
# Usage: Scripts/check_real_videos.sh [FILE...]     (no FILE: every video in the packages)
# Env:   NLNET_REAL_VIDEOS  cache folder (default ~/.cache/nlnet-real-videos)
#        NLNET              the binary (default .build/release/nlnet)
# Prints one line per file and a summary; exits 1 if any file differs from ffmpeg
# (files ffmpeg cannot decode either are skipped).
set -euo pipefail

CACHE=${NLNET_REAL_VIDEOS:-$HOME/.cache/nlnet-real-videos}
NLNET=${NLNET:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/nlnet}
W=64 H=48
FRAME_BYTES=$((W * H * 3))
T="timeout 60"

# Packages that ship videos (found with apt-file), chosen for variety of makers, containers
# and codecs: xvid/divx/mjpeg/vp9 AVI (opencv-doc, python3-mecavideo, node-opencv, gem-doc),
# old Matroska (planetblupi-common), MPEG-1/2 PS (devede, k3b-data, xine-ui, kivy), DV
# (dvbackup), Theora (GNOME help, nbsphinx), VP8/VP9 WebM, phone and camera H.264/HEVC MP4
# (forensics-samples-files), QuickTime (gem-doc, pd-extendedview), WMV/FLV/3GP/RMVB
# (python3-sage, mimetype test data).
PACKAGES=(
  afl++-doc coccinella devede dvbackup fillets-ng-data five-or-more forensics-samples-files gem-doc
  gnome-mahjongg gnome-tetravex gnome-user-docs golang-github-gabriel-vasile-mimetype-dev
  golang-github-rclone-rclone-dev hollywood janus-demos k3b-data kphotoalbum
  libgtkmm-4.0-doc libjs-dojo-dojox lightsoff mrpt-common node-opencv openboard-common
  opencv-doc pampi pd-extendedview planetblupi-common psychtoolbox-3-common
  python-kivy-examples python-nbsphinx-doc python-pygame-doc python3-hug-doc python3-imageio
  python3-mecavideo python3-sage python3-traitsui renpy-demo texlive-latex-extra tupi-data
  webext-ublock-origin-firefox wordpress-theme-twentytwentytwo wx3.2-examples xine-ui
)
EXTENSIONS='mp4|m4v|mov|3gp|3g2|mkv|webm|avi|divx|ogv|ogg|flv|f4v|mpg|mpeg|m2v|vob|ts|m2ts|mts|wmv|asf|rm|rmvb|dv|nut|y4m|mxf|ivf|gif'

command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { echo "needs ffmpeg and ffprobe (make deps)" >&2; exit 2; }
[ -x "$NLNET" ] || { echo "no binary at $NLNET (make build)" >&2; exit 2; }

# --- 1. Download and unpack the packages (once: each is skipped when already unpacked) ---
fetch_packages() {
  mkdir -p "$CACHE/debs" "$CACHE/root"
  local p updated=0
  for p in "${PACKAGES[@]}"; do
    [ -d "$CACHE/root/$p" ] && continue
    if ! compgen -G "$CACHE/debs/${p}_*.deb" >/dev/null; then
      # apt-get download needs current package lists; refresh them once if it fails as root.
      if ! (cd "$CACHE/debs" && apt-get download -qq "$p" >/dev/null 2>&1); then
        if [ "$updated" = 0 ] && [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; updated=1; fi
        (cd "$CACHE/debs" && apt-get download -qq "$p" >/dev/null 2>&1) || { echo "warning: cannot download $p" >&2; continue; }
      fi
    fi
    # Unpack beside and rename, so an interrupted run leaves no half-unpacked folder.
    rm -rf "$CACHE/root/.$p"
    dpkg -x "$(compgen -G "$CACHE/debs/${p}_*.deb" | head -1)" "$CACHE/root/.$p"
    mv "$CACHE/root/.$p" "$CACHE/root/$p"
  done
}

# Video files in the unpacked packages: by extension, then kept only when ffprobe finds a
# video stream that is not cover art (audio-only .ogg/.webm/.mkv and non-video .ts/.mts
# drop out), with at least 2 frames for GIF (still images are not videos). Identical copies
# (GNOME help ships one per language) are checked once.
list_videos() {
  local f seen=" " sum
  while IFS= read -r -d '' f; do
    ffprobe -v error -select_streams v -show_entries stream_disposition=attached_pic \
      -of default=nw=1 "$f" 2>/dev/null | grep -q 'attached_pic=0' || continue
    if [[ ${f,,} == *.gif ]]; then
      [ "$(ffprobe -v error -count_packets -select_streams v:0 -show_entries stream=nb_read_packets \
            -of csv=p=0 "$f" 2>/dev/null)" -ge 2 ] 2>/dev/null || continue
    fi
    sum=$(sha1sum <"$f" | cut -c1-40)
    [[ $seen == *" $sum "* ]] && continue
    seen+="$sum "
    printf '%s\n' "$f"
  done < <(find "$CACHE/root" -type f -regextype posix-extended -iregex ".*\.($EXTENSIONS)$" -print0 | sort -z)
}

# nlnet under the time limit; the binary may be relinked while this runs ("Text file busy",
# exit 126), so that case waits and tries again rather than counting as a refusal.
run_nlnet() {
  local try rc
  for try in 1 2 3 4 5 6; do
    rc=0; $T "$NLNET" "$@" || rc=$?
    [ "$rc" -ne 126 ] && return "$rc"
    sleep 10
  done
  return 126
}

json_field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2" | tr -d '"'; }

# Frame indices ffmpeg should output, as a select expression, for a sorted list.
select_expr() { local e="" i; for i in "$@"; do e+="${e:++}eq(n\\,$i)"; done; printf '%s' "$e"; }

# Whether our K-th decoded frame equals ffmpeg's frame J (pos: ffmpeg's frame J's place in
# ref.rgb, got: how many frames ref.rgb holds; both set by check_file).
pos=() got=0
same() {
  local r=${pos[$2]:-}
  [ -n "$r" ] && [ "$r" -lt "$got" ] &&
    cmp -s -n $FRAME_BYTES -i $(($1 * FRAME_BYTES)):$((r * FRAME_BYTES)) "$WORK/ours.rgb" "$WORK/ref.rgb"
}

# --- 2. Check one file; prints its line and sets STATUS (space-separated flags) ---
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
check_file() {
  local f=$1 probe n sidx ff_n ff_stream desc
  STATUS="" ; local notes=()
  desc=$(ffprobe -v error -select_streams v -show_entries format=format_name:stream=codec_name \
           -of csv=p=0 "$f" 2>/dev/null | tr -d '"' | sed 's/,*$//;/^$/d' | tac | paste -sd' ' -)

  # ffmpeg's own view first: if it cannot decode a frame either, the file is skipped.
  if ! $T ffmpeg -v error -nostdin -i "$f" -map 0:v:0 -frames:v 1 -f null - >/dev/null 2>&1; then
    STATUS="skip"; echo "SKIP     $f [$desc]: ffmpeg cannot decode it either"; return
  fi
  if ! probe=$(run_nlnet probe --json "$f" 2>"$WORK/err"); then
    STATUS="refused"; echo "REFUSED  $f [$desc]: probe: $(tr '\n' ' ' <"$WORK/err" | cut -c1-200)"; return
  fi
  n=$(json_field frameCount "$probe"); sidx=$(json_field streamIndex "$probe")

  # The stream ffmpeg would pick by default (its "Stream mapping" line), for comparison.
  ff_stream=$($T ffmpeg -nostdin -i "$f" -frames:v 1 -an -sn -dn -f null - 2>&1 \
                | sed -n 's/^ *Stream #0:\([0-9]*\)[^ ]* -> #0:0.*/\1/p' | head -1)
  [ -n "$ff_stream" ] && [ "$ff_stream" != "$sidx" ] && { STATUS+=" stream"; notes+=("stream: nlnet $sidx, ffmpeg $ff_stream"); }

  # Frame count: nlnet's (packets of the stream) against the frames ffmpeg's decoder outputs.
  ff_n=$($T ffprobe -v error -count_frames -select_streams "$sidx" -show_entries stream=nb_read_frames \
           -of csv=p=0 "$f" 2>/dev/null | head -1 | tr -dc 0-9 || true)
  [ "$n" != "$ff_n" ] && { STATUS+=" count"; notes+=("frames: nlnet $n, ffmpeg ${ff_n:-?}"); }
  [ "$(json_field duration "$probe")" = 0 ] && [ "${n:-0}" -gt 1 ] && { STATUS+=" duration"; notes+=("duration 0"); }

  # Frames at the start, after a seek to the middle, and the last one.
  local want=() i
  for i in 0 1 2 3 $((n / 2)) $((n / 2 + 1)) $((n - 1)); do [ "$i" -ge 0 ] && [ "$i" -lt "$n" ] && want+=("$i"); done
  mapfile -t want < <(printf '%s\n' "${want[@]}" | sort -nu)
  if ! run_nlnet decode "$f" --frames "$(IFS=,; echo "${want[*]}")" --size ${W}x$H -o "$WORK/ours.rgb" \
        >/dev/null 2>"$WORK/err"; then
    STATUS+=" refused"; notes+=("decode: $(tr '\n' ' ' <"$WORK/err" | cut -c1-200)")
  else
    # ffmpeg decodes each wanted frame and its neighbours, to tell an off-by-one from other damage.
    local ref=() k=0 j; pos=()
    mapfile -t ref < <(for i in "${want[@]}"; do echo $((i - 1)); echo "$i"; echo $((i + 1)); done | awk '$1 >= 0' | sort -nu)
    for j in "${ref[@]}"; do pos[$j]=$k; k=$((k + 1)); done
    $T ffmpeg -v error -nostdin -i "$f" -map "0:$sidx" \
      -vf "select='$(select_expr "${ref[@]}")',scale=$W:$H:flags=bilinear" \
      -fps_mode passthrough -pix_fmt rgb24 -f rawvideo - >"$WORK/ref.rgb" 2>/dev/null || true
    got=$(( $(stat -c %s "$WORK/ref.rgb") / FRAME_BYTES )); local bad=() k2 d
    for k in "${!want[@]}"; do
      i=${want[$k]}
      same "$k" "$i" && continue
      d="$i"
      for k2 in -1 1; do same "$k" $((i + k2)) && { d+="(=ffmpeg $((i + k2)))"; break; }; done
      bad+=("$d")
    done
    [ ${#bad[@]} -gt 0 ] && { STATUS+=" pixels"; notes+=("frames differ: ${bad[*]} of ${want[*]}"); }
  fi
  STATUS=${STATUS# }
  if [ -z "$STATUS" ]; then STATUS="exact"; printf 'EXACT    %s [%s] %s frames\n' "$f" "$desc" "$n"
  else
    local msg; msg=$(printf '%s; ' "${notes[@]}")
    printf 'DIFFERS  %s [%s]: %s\n' "$f" "$desc" "${msg%; }"
    # A command that shows the difference by hand.
    printf '  repro: %q decode %q --frames %s --size %sx%s -o ours.rgb; ffmpeg -v error -i %q -map 0:%s -vf "select='"'"'%s'"'"',scale=%s:%s:flags=bilinear" -fps_mode passthrough -pix_fmt rgb24 -f rawvideo theirs.rgb; cmp ours.rgb theirs.rgb\n' \
      "$NLNET" "$f" "$(IFS=,; echo "${want[*]}")" $W $H "$f" "$sidx" "$(select_expr "${want[@]}")" $W $H
  fi
}

# --- 3. Run and summarise ---
if [ $# -gt 0 ]; then files=("$@"); else fetch_packages; mapfile -t files < <(list_videos); fi
declare -A count=()
failed=0
for f in "${files[@]}"; do
  check_file "$f"
  for s in $STATUS; do count[$s]=$(( ${count[$s]:-0} + 1 )); done
  [[ $STATUS == exact || $STATUS == skip ]] || failed=$((failed + 1))
done
echo "---"
printf '%d files: %d exact, %d differ (%d pixels, %d frame count, %d stream choice, %d duration 0, %d refused by nlnet), %d skipped (ffmpeg fails too)\n' \
  "${#files[@]}" "${count[exact]:-0}" "$failed" "${count[pixels]:-0}" "${count[count]:-0}" "${count[stream]:-0}" \
  "${count[duration]:-0}" "${count[refused]:-0}" "${count[skip]:-0}"
[ "$failed" -eq 0 ]
