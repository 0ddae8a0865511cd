#!/usr/bin/env bash
# Builds the container image `varsel:local` without pulling anything: `FROM scratch` with a root
# filesystem assembled here from binaries already built on this machine (see deploy/Dockerfile).
#
#   deploy/build-image.sh                     # target/debug/{varsel,varsel-sim}
#   deploy/build-image.sh --release           # target/release/...
#   deploy/build-image.sh --bin-dir DIR       # binaries from DIR (e.g. what `cargo test` built)
#   deploy/build-image.sh --tag varsel:ci     # another tag
#
# `target` is $CARGO_TARGET_DIR when set, else <repository>/target. The binaries may be
# dynamically linked against glibc: the libraries `ldd` lists and the loader are copied in at
# their own paths. Safe to run again: the context is rebuilt from scratch (a few seconds) and
# Docker reuses its cached layers when nothing changed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
bin_dir=""
profile=debug
tag=varsel:local
# The unprivileged user the image runs as; also the owner of /var/lib/varsel.
uid=10001

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; }
die() { echo "build-image.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a directory"; bin_dir=$2; shift 2 ;;
    --release) profile=release; shift ;;
    --tag) [ $# -ge 2 ] || die "--tag needs a value (name:tag)"; tag=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$bin_dir" ] || bin_dir=$target/$profile
[ -d "$bin_dir" ] || die "--bin-dir: $bin_dir is not a directory (build first: cargo build --bins)"
for b in varsel varsel-sim; do
  [ -x "$bin_dir/$b" ] || die "$bin_dir/$b is missing or not executable (build it: cargo build --bin $b)"
done
command -v docker >/dev/null || die "docker is not installed"

ctx=$target/varsel-image
rm -rf "$ctx"
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/etc" "$ctx/rootfs/tmp" "$ctx/rootfs/etc/varsel" "$ctx/data"
chmod 1777 "$ctx/rootfs/tmp"
cp "$repo/deploy/Dockerfile" "$ctx/Dockerfile"

# Binaries (hard links when on the same file system: no copy of 100 MB debug binaries).
for b in varsel varsel-sim; do
  ln -f "$bin_dir/$b" "$ctx/rootfs/usr/local/bin/$b" 2>/dev/null || cp -L "$bin_dir/$b" "$ctx/rootfs/usr/local/bin/$b"
done

# Shared libraries and the loader, at the paths the binaries look for them.
libs=$(for b in varsel varsel-sim; do
  out=$(ldd "$bin_dir/$b" 2>&1) || true
  if grep -q "not found" <<<"$out"; then die "ldd $bin_dir/$b: a library is missing: $(grep 'not found' <<<"$out")"; fi
  # "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)";
  # a static binary prints "not a dynamic executable" or "statically linked" and needs none.
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out"
done | sort -u)
for lib in $libs; do
  mkdir -p "$ctx/rootfs$(dirname "$lib")"
  cp -L "$lib" "$ctx/rootfs$lib"
done
# Debian's loader path /lib64 is a real directory in the image (no usrmerge symlinks needed):
# the binaries name /lib64/ld-linux-x86-64.so.2 as their interpreter and it is copied there.

cat > "$ctx/rootfs/etc/passwd" <<PASSWD
root:x:0:0:root:/nonexistent:/sbin/nologin
varsel:x:$uid:$uid:Varsel:/var/lib/varsel:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
PASSWD
cat > "$ctx/rootfs/etc/group" <<GROUP
root:x:0:
varsel:x:$uid:
nogroup:x:65534:
GROUP
# Host names from /etc/hosts (which the engine writes) first, then the engine's DNS (service
# names on the compose networks).
echo "hosts: files dns" > "$ctx/rootfs/etc/nsswitch.conf"

# The engine's legacy builder warns on every build that it is deprecated: keep its output for
# failures only.
if ! log=$(docker build -t "$tag" "$ctx" 2>&1); then
  echo "$log" >&2
  die "docker build of $tag failed (context $ctx)"
fi
echo "built $tag from $bin_dir ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
