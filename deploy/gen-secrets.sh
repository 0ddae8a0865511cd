#!/usr/bin/env bash
# Writes every secret of the compose deployment into DIR (default deploy/secrets, which git
# ignores): the superadmin token, the simulator's callback secret, and the cluster's TLS files
# (a CA and one certificate per node, made with `varsel certs`). The deployment refuses to start
# without them:
#
#   deploy/gen-secrets.sh /srv/varsel-secrets
#   VARSEL_SECRETS_DIR=/srv/varsel-secrets docker-compose -p varsel -f deploy/compose.yaml up -d
#
# Existing files are kept (so a running deployment keeps its secrets); --force replaces them.
# The directory is made 0700 (only its owner reaches the files on this host); the files are
# 0644 because they are bind-mounted into containers that run as uid 10001, which must read them.
# The CA's key (ca.key) stays in DIR and is never mounted into a container: keep DIR private.
#
# The `varsel` binary makes the certificates: $VARSEL_BIN, else target/debug/varsel (or
# $CARGO_TARGET_DIR/debug/varsel), else `varsel` on PATH.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
dir=$here/secrets
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --force) force=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "gen-secrets.sh: unknown option '$1'" >&2; exit 2 ;;
    *) dir=$1; shift ;;
  esac
done

varsel=${VARSEL_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/varsel}
if [ ! -x "$varsel" ]; then
  varsel=$(command -v varsel || true)
fi
[ -n "$varsel" ] && [ -x "$varsel" ] || {
  echo "gen-secrets.sh: no varsel binary (build it with 'cargo build --bin varsel' or set VARSEL_BIN)" >&2
  exit 1
}

mkdir -p "$dir"
chmod 0700 "$dir"
for name in superadmin.token sim-callback.secret; do
  f=$dir/$name
  if [ -s "$f" ] && [ "$force" = 0 ]; then
    continue
  fi
  # 32 random bytes as 64 hex digits (the node wants a token of at least 32 characters).
  od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$f.tmp"
  chmod 0644 "$f.tmp"
  mv "$f.tmp" "$f"
done

# (Expanded as ${a[@]+"${a[@]}"}: bash before 4.4 treats an empty array as unset under set -u.)
force_arg=()
[ "$force" = 0 ] || force_arg=(--force)
if [ ! -s "$dir/ca.pem" ] || [ "$force" = 1 ]; then
  "$varsel" certs ca --out "$dir" --name "Varsel compose CA" ${force_arg[@]+"${force_arg[@]}"} >/dev/null
fi
# Each node is reached by its service name (peers, the simulator, the cli service), and from
# this host through a published port on 127.0.0.1.
id=1
for site in oslo bergen trondheim; do
  if [ ! -s "$dir/node-$id.pem" ] || [ "$force" = 1 ]; then
    "$varsel" certs node --ca "$dir" --node-id "$id" --site "$site" --dns "$site" --dns localhost \
      --ip 127.0.0.1 --out "$dir" ${force_arg[@]+"${force_arg[@]}"} >/dev/null
  fi
  id=$((id + 1))
done
# The containers read these as uid 10001; the directory keeps them from other users here.
chmod 0644 "$dir"/node-*.key "$dir"/node-*.pem "$dir"/ca.pem
echo "$dir"
