#!/usr/bin/env bash
# Extracts the real photos the face-detection tests use from two Debian packages, without
# installing them (apt-get download + dpkg-deb -x), into DIR/faces (default build/testdata).
# Idempotent: files already there with the right checksum are kept. `make deps` runs it.
#   facedetect      grace_hopper_512x512.jpg (a face), 640px-IceBlockNearJoekullsarlon.jpg (none)
#   python3-skimage astronaut.png (a face), coffee.png (none)
set -euo pipefail
dir=${1:-build/testdata}/faces
# name  package  path in the package  sha256
files=(
  "grace_hopper_512x512.jpg facedetect usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg ee9d775343587100337da3bd24f9f9daf49756132362f09ca3ac9b676c4341b3"
  "640px-IceBlockNearJoekullsarlon.jpg facedetect usr/share/doc/facedetect/examples/640px-IceBlockNearJoekullsarlon.jpg 593cdf845bc284b98abbca0eabb0fa45cdc0590f7cb7d7d71c4ca86a9d5077a4"
  "astronaut.png python3-skimage usr/lib/python3/dist-packages/skimage/data/astronaut.png 88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"
  "coffee.png python3-skimage usr/lib/python3/dist-packages/skimage/data/coffee.png cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"
)
ok() { [ -f "$1" ] && echo "$2  $1" | sha256sum -c --status; }

need=()
for f in "${files[@]}"; do
  read -r name pkg _ sum <<<"$f"
  ok "$dir/$name" "$sum" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)

mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "test photos: downloading ${need[*]} (not installed; only their photos are kept in $dir)"
# apt-get download writes into the working directory; as root its sandbox user cannot write
# to a mktemp directory, which is harmless (it says so and downloads unsandboxed).
download() { (cd "$tmp" && apt-get download -qq "${need[@]}" 2>&1 | grep -v "unsandboxed" >&2 || true); }
download
if ! ls "$tmp"/*.deb >/dev/null 2>&1; then # no package lists yet (a fresh container): update once
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && download
fi
for pkg in "${need[@]}"; do
  deb=$(ls "$tmp"/"${pkg}"_*.deb 2>/dev/null | head -1)
  if [ -z "$deb" ]; then
    echo "test photos: apt-get download $pkg failed (is apt-get update done? run make deps)" >&2
    exit 1
  fi
  dpkg-deb -x "$deb" "$tmp/x"
done
for f in "${files[@]}"; do
  read -r name pkg path sum <<<"$f"
  ok "$dir/$name" "$sum" && continue
  [ -f "$tmp/x/$path" ] || { echo "test photos: $pkg has no $path" >&2; exit 1; }
  cp "$tmp/x/$path" "$dir/$name.tmp"
  if ! ok "$dir/$name.tmp" "$sum"; then
    rm -f "$dir/$name.tmp"
    echo "test photos: $path of $pkg has another checksum than the tests were written for" >&2
    exit 1
  fi
  mv "$dir/$name.tmp" "$dir/$name"
done
echo "test photos: $(ls "$dir" | tr '\n' ' ')in $dir"
