#!/usr/bin/env bash
# Prints the API endpoints (IP:7001, comma-separated, node 1 first) of a running compose
# deployment, as this host reaches them: each node's address on its own site network.
#
#   export VARSEL_ENDPOINTS=$(deploy/endpoints.sh varsel)
#   varsel alert list
#
# (`varsel cluster status` asks each member at its advertised address, `oslo:7001`, which only
# the deployment's networks resolve: run it as `docker-compose ... run --rm cli cluster status`.)
#
# With --sim it prints the provider simulator's address (IP:8900 on site-oslo) instead.
set -euo pipefail

project=varsel
what=nodes
while [ $# -gt 0 ]; do
  case "$1" in
    --sim) what=sim; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
    -*) echo "endpoints.sh: unknown option '$1'" >&2; exit 2 ;;
    *) project=$1; shift ;;
  esac
done

# The IP of service $1 on network ${project}_$2; empty (and a note on stderr) when the service
# has no running container or is not on that network.
ip_of() {
  local id ip
  id=$(docker ps -q --filter "label=com.docker.compose.project=$project" \
    --filter "label=com.docker.compose.service=$1" --filter "label=com.docker.compose.oneoff=False" | head -n 1)
  if [ -z "$id" ]; then
    echo "endpoints.sh: service '$1' of project '$project' is not running; left out" >&2
    return 0
  fi
  ip=$(docker inspect -f "{{with index .NetworkSettings.Networks \"${project}_$2\"}}{{.IPAddress}}{{end}}" "$id")
  [ -n "$ip" ] || echo "endpoints.sh: service '$1' is not on network ${project}_$2; left out" >&2
  echo "$ip"
}

if [ "$what" = sim ]; then
  ip=$(ip_of sim site-oslo)
  [ -n "$ip" ] || exit 1
  echo "$ip:8900"
  exit 0
fi
endpoints=()
for site in oslo bergen trondheim; do
  ip=$(ip_of "$site" "site-$site")
  [ -z "$ip" ] || endpoints+=("$ip:7001")
done
[ ${#endpoints[@]} -gt 0 ] || { echo "endpoints.sh: no node of project '$project' is running" >&2; exit 1; }
(IFS=,; echo "${endpoints[*]}")
