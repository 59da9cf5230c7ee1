#!/bin/sh
# How a device verifies a download with nothing but a POSIX shell, curl, openssl (3.0 or later),
# sha256sum and split: see docs/device-verification.md.
#
#   verify-manifest.sh pin <appliance-url> <keys-dir>
#       once, at provisioning: fetch GET /keys and keep each key as <keys-dir>/<keyId>.pem
#   verify-manifest.sh verify <manifest-url-or-file> <keys-dir> <firmware.bin>
#       for every download: exit 0 and "verified" when the signature and every byte check out,
#       exit 1 and the reason otherwise
set -eu

fail() {
  echo "NOT verified: $*" >&2
  exit 1
}

# DER header of an Ed25519 SubjectPublicKeyInfo (RFC 8410), followed by the raw 32-byte key.
ed25519_spki_header() {
  printf '\060\052\060\005\006\003\053\145\160\003\041\000'
}

pin() {
  url=${1%/}
  dir=$2
  mkdir -p "$dir"
  keys=$(curl -fsS "$url/keys") || fail "GET $url/keys failed"
  # One key object per line; each keyId is checked against the key it names.
  printf '%s\n' "$keys" | sed 's/},{/}\
{/g' | while IFS= read -r entry; do
    raw=$(printf '%s' "$entry" | sed -n 's/.*"publicKey":"\([A-Za-z0-9+/=]*\)".*/\1/p')
    key_id=$(printf '%s' "$entry" | sed -n 's/.*"keyId":"\([0-9a-f]*\)".*/\1/p')
    [ -n "$raw" ] && [ -n "$key_id" ] || continue
    computed=$(printf '%s' "$raw" | base64 -d | sha256sum | cut -c1-16)
    [ "$computed" = "$key_id" ] || fail "keyId $key_id does not match its key"
    { ed25519_spki_header; printf '%s' "$raw" | base64 -d; } | openssl pkey -pubin -inform DER -out "$dir/$key_id.pem" \
      || fail "key $key_id is not an Ed25519 key"
    echo "pinned $key_id"
  done
}

verify() {
  source=$1
  dir=$2
  file=$3
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  case $source in
    http://* | https://*) curl -fsS -o "$work/signed.json" "$source" || fail "GET $source failed" ;;
    *) cp "$source" "$work/signed.json" ;;
  esac

  # The body is canonical JSON ({"manifest":…,"signature":"…"}), so the manifest's signed bytes are
  # exactly the text between {"manifest": and ,"signature":. A wrong cut cannot pass: openssl decides.
  tr -d '\n' < "$work/signed.json" | sed -n 's/^{"manifest":\(.*\),"signature":"[A-Za-z0-9+/=]*"}$/\1/p' | tr -d '\n' > "$work/manifest.canonical.json"
  tr -d '\n' < "$work/signed.json" | sed -n 's/.*,"signature":"\([A-Za-z0-9+/=]*\)"}$/\1/p' | base64 -d > "$work/sig.bin"
  [ -s "$work/manifest.canonical.json" ] && [ -s "$work/sig.bin" ] || fail "not a signed manifest"

  key_id=$(sed -n 's/.*"keyId":"\([0-9a-f]*\)".*/\1/p' "$work/manifest.canonical.json")
  [ -n "$key_id" ] && [ -f "$dir/$key_id.pem" ] || fail "manifest signed by key ${key_id:-?}, which is not pinned"
  openssl pkeyutl -verify -pubin -inkey "$dir/$key_id.pem" -rawin \
    -in "$work/manifest.canonical.json" -sigfile "$work/sig.bin" > /dev/null 2>&1 || fail "bad signature"

  # From here on the manifest is trusted: check the file against it.
  manifest=$(cat "$work/manifest.canonical.json")
  sha256=$(printf '%s' "$manifest" | sed -n 's/.*"sha256":"\([0-9a-f]\{64\}\)".*/\1/p')
  size=$(printf '%s' "$manifest" | sed -n 's/.*"size":\([0-9]*\).*/\1/p')
  chunk_size=$(printf '%s' "$manifest" | sed -n 's/.*"chunkSize":\([0-9]*\).*/\1/p')
  case $source in
    */manifests/*) [ "${source##*/}" = "$sha256" ] || fail "manifest is about $sha256, not ${source##*/}" ;;
  esac

  actual_size=$(wc -c < "$file" | tr -d ' ')
  [ "$actual_size" = "$size" ] || fail "file has $actual_size bytes, the manifest says $size"

  chunks=$(printf '%s' "$manifest" | sed -n 's/.*"chunks":\[\([^]]*\)\].*/\1/p' | tr -d '"')
  printf '%s\n' "$chunks" | tr ',' '\n' | sed '/^$/d' > "$work/expected"
  mkdir "$work/chunks"
  split -b "$chunk_size" -a 6 "$file" "$work/chunks/c."
  : > "$work/actual"
  for chunk in "$work"/chunks/c.*; do
    [ -f "$chunk" ] || continue
    sha256sum "$chunk" | cut -d' ' -f1 >> "$work/actual"
  done
  index=0
  while IFS= read -r expected; do
    actual=$(sed -n "$((index + 1))p" "$work/actual")
    [ "$expected" = "$actual" ] || fail "chunk $index does not match"
    index=$((index + 1))
  done < "$work/expected"
  [ "$index" = "$(wc -l < "$work/actual" | tr -d ' ')" ] || fail "the file has $(wc -l < "$work/actual" | tr -d ' ') chunks, the manifest lists $index"

  [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$sha256" ] || fail "whole-file SHA-256 does not match"
  echo "verified $sha256 ($size bytes, $index chunks, key $key_id)"
}

case ${1:-} in
  pin) [ $# -eq 3 ] || fail "usage: $0 pin <appliance-url> <keys-dir>"; pin "$2" "$3" ;;
  verify) [ $# -eq 4 ] || fail "usage: $0 verify <manifest-url-or-file> <keys-dir> <firmware.bin>"; verify "$2" "$3" "$4" ;;
  *) fail "usage: $0 pin <appliance-url> <keys-dir> | verify <manifest-url-or-file> <keys-dir> <firmware.bin>" ;;
esac
