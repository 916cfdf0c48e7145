#!/usr/bin/env bash
# The plain pipeline release teams script by hand, one step after another:
# for each platform `tar -xzf` + rename + `zip -X`, then `sha256sum`,
# `gpg --detach-sign`, then upload every file with a small Node script on
# @aws-sdk/client-s3 (the S3 library Relay uses, so only the pipeline differs).
#
#   bash bench/peer-pipeline.sh <tarball-dir> <work-dir> <bucket> <steps-file>
#
# Every step runs under `/usr/bin/time -f '%e %M <step>'`, appended to
# <steps-file>: the caller takes the pipeline's peak RSS as the max over steps.
# GNUPGHOME must hold the (only) signing key.
set -euo pipefail
TARBALLS=$1 WORK=$2 BUCKET=$3 STEPS=$4
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=bench VERSION=1.0.0
step() { local label=$1; shift; /usr/bin/time -a -o "$STEPS" -f "%e %M $label" "$@"; }

OUT=$WORK/dist
mkdir -p "$OUT"
for tgz in "$TARBALLS"/terraform-provider-$NAME-v$VERSION-*-bin.tar.gz; do
  plat=${tgz##*/terraform-provider-$NAME-v$VERSION-}; plat=${plat%-bin.tar.gz}   # e.g. linux-amd64
  os=${plat%%-*} arch=${plat#*-}
  ext=""; [ "$os" = windows ] && ext=.exe
  dir=$WORK/x-$os-$arch
  mkdir -p "$dir"
  step "tar-$os-$arch" tar -xzf "$tgz" -C "$dir"
  mv "$dir/terraform-provider-$NAME$ext" "$dir/terraform-provider-${NAME}_v$VERSION$ext"
  (cd "$dir" && step "zip-$os-$arch" zip -X -q "$OUT/terraform-provider-${NAME}_${VERSION}_${os}_${arch}.zip" "terraform-provider-${NAME}_v$VERSION$ext")
  rm -rf "$dir"
done
cd "$OUT"
step sha256sum sh -c 'sha256sum *.zip > SHA256SUMS'
step gpg gpg --batch --yes --quiet --detach-sign SHA256SUMS
step upload node --no-warnings "$HERE/s3.mjs" put "$BUCKET" ./*.zip SHA256SUMS SHA256SUMS.sig
