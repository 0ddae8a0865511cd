#!/usr/bin/env bash
# Writes fresh secrets for the compose deployment into DIR (default deploy/secrets, which git
# ignores): the superadmin token and the simulator's callback secret. Use them instead of the
# dev-only ones in deploy/dev-secrets:
#
#   deploy/gen-secrets.sh /srv/varsel-secrets
#   VARSEL_SECRETS_DIR=/srv/varsel-secrets docker-compose -p varsel -f deploy/compose.yaml up -d
#
# Existing files are kept (so a running deployment keeps its secrets); --force replaces them.
# The directory is made 0700 (only its owner reaches the files on this host); the files are
# 0644 because they are bind-mounted into containers that run as uid 10001, which must read them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
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
echo "$dir"
