#!/usr/bin/env bash
# Installs and starts the container engines the @mdp/container tests use: Docker (Debian's docker.io, its
# daemon in the background) and Podman (Debian's podman serving the Docker Engine API on a socket), plus
# Debian's docker-compose for the Compose test. Idempotent: an engine that already answers is left alone.
# Prints one line per engine; exits non-zero when an install or a start fails.
#
#   scripts/ci-engines.sh            # both engines
#   MDP_ENGINES=docker scripts/ci-engines.sh
#
# Docker: /etc/docker/daemon.json is written only when absent ({"bridge":"none","iptables":false,
# "ip6tables":false}: no bridge network, no firewall rules; containers use host networking), dockerd logs to
# /var/log/mdp-dockerd.log. Podman: its default rlimits exceed the hard limits of sandboxed machines ("error
# setting rlimit type 7"), so the service runs with a containers.conf that sets none (CONTAINERS_CONF), and
# listens on unix:///run/mdp-podman.sock (log: /var/log/mdp-podman.log).
set -euo pipefail

ENGINES=${MDP_ENGINES:-docker podman}
DOCKER_SOCK=/var/run/docker.sock
PODMAN_SOCK=${MDP_PODMAN_SOCK:-/run/mdp-podman.sock}
export CONTAINERS_CONF=${CONTAINERS_CONF:-/etc/mdp/containers.conf}
APT_LOG=/tmp/mdp-ci-engines-apt.log
apt_updated=0

fail() {
  echo "ci-engines: $*" >&2
  exit 1
}

apt_install() {
  if [ "$apt_updated" = 0 ]; then
    apt-get update -qq >>"$APT_LOG" 2>&1 || fail "apt-get update failed (see $APT_LOG)"
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >>"$APT_LOG" 2>&1 \
    || fail "apt-get install $* failed (see $APT_LOG)"
}

# GET /_ping on a Docker-API unix socket; true when it answers OK.
ping_socket() {
  [ -S "$1" ] || return 1
  node -e '
    const req = require("node:http").get({ socketPath: process.argv[1], path: "/_ping", timeout: 2000 }, (res) => {
      res.resume(); process.exit(res.statusCode === 200 ? 0 : 1);
    });
    req.on("timeout", () => req.destroy()); req.on("error", () => process.exit(1));
  ' "$1" 2>/dev/null
}

# Waits up to $2 seconds for the socket $1 to answer; $3 names the log to show when it does not.
wait_socket() {
  local i
  for ((i = 0; i < $2 * 5; i++)); do
    ping_socket "$1" && return 0
    sleep 0.2
  done
  tail -n 20 "$3" >&2 || true
  return 1
}

start_docker() {
  if ping_socket "$DOCKER_SOCK"; then
    echo "docker: already running ($DOCKER_SOCK)"
    return
  fi
  command -v dockerd >/dev/null || apt_install docker.io
  command -v dockerd >/dev/null || fail "docker.io installed but dockerd is not on PATH"
  if [ ! -e /etc/docker/daemon.json ]; then
    mkdir -p /etc/docker
    echo '{"bridge":"none","iptables":false,"ip6tables":false}' >/etc/docker/daemon.json
  fi
  setsid nohup dockerd >>/var/log/mdp-dockerd.log 2>&1 </dev/null &
  wait_socket "$DOCKER_SOCK" 60 /var/log/mdp-dockerd.log || fail "dockerd did not answer on $DOCKER_SOCK within 60 s (log: /var/log/mdp-dockerd.log)"
  echo "docker: started dockerd (pid $!, $DOCKER_SOCK, log /var/log/mdp-dockerd.log)"
}

start_podman() {
  if ping_socket "$PODMAN_SOCK"; then
    echo "podman: already running ($PODMAN_SOCK)"
    return
  fi
  command -v podman >/dev/null || apt_install --no-install-recommends podman
  command -v podman >/dev/null || fail "podman installed but not on PATH"
  if [ ! -e "$CONTAINERS_CONF" ]; then
    mkdir -p "$(dirname "$CONTAINERS_CONF")"
    printf '[containers]\ndefault_ulimits = []\n' >"$CONTAINERS_CONF"
  fi
  rm -f "$PODMAN_SOCK"
  setsid nohup env CONTAINERS_CONF="$CONTAINERS_CONF" podman system service --time=0 "unix://$PODMAN_SOCK" \
    >>/var/log/mdp-podman.log 2>&1 </dev/null &
  wait_socket "$PODMAN_SOCK" 30 /var/log/mdp-podman.log || fail "podman system service did not answer on $PODMAN_SOCK within 30 s (log: /var/log/mdp-podman.log)"
  echo "podman: started podman system service (pid $!, $PODMAN_SOCK, CONTAINERS_CONF=$CONTAINERS_CONF)"
}

for engine in $ENGINES; do
  case "$engine" in
    docker)
      start_docker
      command -v docker-compose >/dev/null || apt_install docker-compose
      ;;
    podman) start_podman ;;
    *) fail "unknown engine \"$engine\" in MDP_ENGINES (docker, podman)" ;;
  esac
done
