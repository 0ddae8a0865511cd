#!/usr/bin/env bash
# Chaos runs against the three-site compose deployment (deploy/compose.yaml), as CI runs them.
#
#   chaos/run-compose.sh                       # the two compose scenarios
#   chaos/run-compose.sh chaos/scenarios/x.toml ...
#
# For each scenario: a fresh compose project with a unique name and fresh secrets, `up -d`,
# then `$VARSEL_CHAOS run --mode compose --project P --compose-file deploy/compose.yaml
# --scenario S`, then the project is torn down (`down -v`), also when the run fails or this
# script is interrupted. Node logs are printed when a run fails. Exits non-zero if any run
# failed.
#
# Environment:
#   VARSEL_CHAOS          the harness binary (default target/debug/varsel-chaos)
#   VARSEL_BIN_DIR        where varsel and varsel-sim are, for the image (default: build-image.sh's)
#   CHAOS_RUN_TIMEOUT_S   longest one scenario may run (default 900)
#   CHAOS_UP_TIMEOUT_S    longest `up -d` / `down -v` may take (default 180)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-$repo/target}
chaos_bin=${VARSEL_CHAOS:-$target/debug/varsel-chaos}
run_timeout=${CHAOS_RUN_TIMEOUT_S:-900}
up_timeout=${CHAOS_UP_TIMEOUT_S:-180}
compose_file=deploy/compose.yaml
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(chaos/scenarios/compose-site-loss.toml chaos/scenarios/compose-partition.toml)

die() { echo "run-compose.sh: $*" >&2; exit 2; }
[[ $run_timeout =~ ^[1-9][0-9]*$ ]] || die "CHAOS_RUN_TIMEOUT_S: '$run_timeout' is not a positive number of seconds"
[[ $up_timeout =~ ^[1-9][0-9]*$ ]] || die "CHAOS_UP_TIMEOUT_S: '$up_timeout' is not a positive number of seconds"
[ -x "$chaos_bin" ] || die "VARSEL_CHAOS: $chaos_bin is missing or not executable (cargo build -p varsel-chaos)"
for s in "${scenarios[@]}"; do [ -f "$s" ] || die "scenario $s: no such file"; done
command -v docker >/dev/null || die "docker is not installed"
command -v timeout >/dev/null || die "timeout (coreutils) is not installed"

# Compose v2 (`docker compose`) when the engine's CLI has it, else v1 (`docker-compose`).
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
else
  die "neither 'docker compose' nor 'docker-compose' is installed"
fi

build_args=()
[ -z "${VARSEL_BIN_DIR:-}" ] || build_args=(--bin-dir "$VARSEL_BIN_DIR")
timeout "$up_timeout" deploy/build-image.sh "${build_args[@]}"

project=""
secrets=""
# Tears down the current project (containers, networks, volumes) and its secrets.
teardown() {
  if [ -n "$project" ]; then
    echo "--- tearing down $project"
    timeout "$up_timeout" "${compose[@]}" -p "$project" -f "$compose_file" down -v --remove-orphans >/dev/null 2>&1 \
      || echo "run-compose.sh: 'down -v' of $project failed or timed out; remove it by hand" >&2
    project=""
  fi
  if [ -n "$secrets" ]; then
    rm -rf "$secrets"
    secrets=""
  fi
}
# Long commands run in the background and are waited for, so that an interrupt is handled at
# once (bash runs traps only between foreground commands): the child is stopped, then the
# EXIT trap tears down.
child=""
bounded() {
  local secs=$1
  shift
  timeout --kill-after=30 "$secs" "$@" </dev/null &
  child=$!
  local rc=0
  wait "$child" || rc=$?
  child=""
  return "$rc"
}
interrupted() {
  [ -z "$child" ] || kill -TERM "$child" 2>/dev/null || true
  [ -z "$child" ] || wait "$child" 2>/dev/null || true
  child=""
  exit "$1"
}
trap teardown EXIT
trap 'interrupted 130' INT
trap 'interrupted 143' TERM

print_logs() {
  echo "--- logs of $project (last 300 lines per service)"
  timeout 60 "${compose[@]}" -p "$project" -f "$compose_file" logs --no-color --tail=300 oslo bergen trondheim sim || true
  timeout 30 "${compose[@]}" -p "$project" -f "$compose_file" ps || true
}

failed=()
n=0
for scenario in "${scenarios[@]}"; do
  n=$((n + 1))
  project="varsel-chaos-$$-$n"
  secrets=$(mktemp -d)
  deploy/gen-secrets.sh "$secrets" >/dev/null
  # Every compose command (up, logs, ps, down) and the harness read the project's secrets.
  export VARSEL_SECRETS_DIR=$secrets
  echo "=== $scenario (compose project $project)"
  if ! bounded "$up_timeout" "${compose[@]}" -p "$project" -f "$compose_file" up -d; then
    echo "run-compose.sh: 'up -d' of $project failed or took over ${up_timeout}s" >&2
    print_logs
    failed+=("$scenario (up)")
    teardown
    continue
  fi
  status=0
  bounded "$run_timeout" "$chaos_bin" run --mode compose --project "$project" \
    --compose-file "$compose_file" --scenario "$scenario" || status=$?
  if [ "$status" -ne 0 ]; then
    [ "$status" -eq 124 ] && echo "run-compose.sh: $scenario took over ${run_timeout}s and was stopped" >&2
    print_logs
    failed+=("$scenario (exit $status)")
  else
    echo "=== $scenario passed"
  fi
  teardown
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "run-compose.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "run-compose.sh: all ${#scenarios[@]} compose scenarios passed"
