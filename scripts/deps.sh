#!/usr/bin/env bash
# Installs the Debian packages fasgo needs, only those missing (idempotent); then the test
# photos (scripts/testdata.sh, into the directory given as $1, default build/testdata).
set -euo pipefail
pkgs=(build-essential cmake ninja-build ccache pkg-config git
      libtorch-dev libgloo-dev libopenblas0-pthread liblmdb-dev libjpeg62-turbo-dev
      python3 python3-torch python3-numpy python3-opencv python3-sklearn python3-scipy python3-lmdb python3-yaml
      iproute2
      libdlib-dev libdlib-data opencv-data ffmpeg)
# libjpeg62-turbo-dev: JPEG decoding in go/internal/imgproc (cgo), the libjpeg OpenCV's
# imdecode links, so that pixels equal cv2's. libdlib-dev: face detection in the shim (dlib's
# HOG detector); libdlib-data: its 68-point
# landmark model (/usr/share/dlib/shape_predictor_68_face_landmarks.dat); opencv-data: the
# Haar cascades the face tests compare with (tests/python/face_ref.py); ffmpeg: `fas prep`
# decodes the data sets' videos with it (and its tests make videos).
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  echo "Go >= 1.26 is required (https://go.dev/dl); it is not a Debian 12 package of that version" >&2
  exit 1
fi
"$(dirname "$0")/testdata.sh" "${1:-build/testdata}"
