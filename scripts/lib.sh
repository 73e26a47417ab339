# Shared by the scripts: where a local run keeps its state, and how its processes are
# started, found and stopped. Everything lives under .state/ at the repository root.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.state"
PIDS="$STATE/pids"
LOGS="$STATE/logs"
DATA="$STATE/data"
TOOLS="$STATE/tools"
mkdir -p "$PIDS" "$LOGS" "$DATA" "$TOOLS"

FERRETDB_VERSION="v1.24.2"

say() { printf '%s\n' "$*"; }
die() { printf 'gongkai: %s\n' "$*" >&2; exit 1; }

# Is something listening on 127.0.0.1:PORT?
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Is process PID running? A killed process that its parent has not reaped yet (a zombie) is not.
running() { [[ "$(ps -o stat= -p "$1")" =~ ^[^Z] ]]; }

# Is the process recorded as NAME alive?
alive() {
  local pid_file="$PIDS/$1.pid"
  [[ -f "$pid_file" ]] && running "$(cat "$pid_file")"
}

# recorded SERVICE: the names of the service's processes that have a pid file: SERVICE-1,
# SERVICE-2… (one per replica), or SERVICE alone (one-process programs, and services as a
# `make up` before replicas recorded them).
recorded() {
  local file
  for file in "$PIDS/$1.pid" "$PIDS/$1"-[0-9]*.pid; do
    if [[ -f "$file" ]]; then basename "$file" .pid; fi
  done
}

# Is any process recorded for SERVICE alive?
any_alive() {
  local name
  for name in $(recorded "$1"); do
    if alive "$name"; then return 0; fi
  done
  return 1
}

# Does the process recorded as NAME listen on PORT? A service replica listens only once its
# startup (database, broker) is done, so this is its readiness even when the port is shared
# (SO_REUSEPORT) and /readyz on the port may be answered by another replica.
listens() {
  ss -Hltnp "sport = :$2" | grep -q "pid=$(cat "$PIDS/$1.pid"),"
}

# start NAME COMMAND...: run COMMAND in the background, logging to .state/logs/NAME.log,
# unless the process recorded as NAME is still alive.
start() {
  local name="$1"; shift
  if alive "$name"; then return 0; fi
  nohup "$@" >>"$LOGS/$name.log" 2>&1 &
  echo $! >"$PIDS/$name.pid"
}

# stop NAME: stop the process recorded as NAME (TERM, then KILL after 15 s) and forget it.
stop() {
  local name="$1" pid_file="$PIDS/$1.pid"
  [[ -f "$pid_file" ]] || return 0
  local pid; pid="$(cat "$pid_file")"
  if running "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do running "$pid" || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    say "stopped $name (pid $pid)"
  fi
  rm -f "$pid_file"
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll COMMAND until it succeeds.
wait_for() {
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what did not come up within ${seconds}s (logs: $LOGS)"
    sleep 0.5
  done
}

# RabbitMQ as this project runs it: data, log and pid under .state/, its own node name.
RABBITMQ_BIN="/usr/lib/rabbitmq/bin"
rabbitmq_env() {
  export HOME="${HOME:-$DATA/rabbitmq}"  # the Erlang cookie lives there
  export RABBITMQ_NODENAME="gongkai@localhost" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
         RABBITMQ_MNESIA_BASE="$DATA/rabbitmq" RABBITMQ_LOG_BASE="$LOGS" \
         RABBITMQ_LOGS="$LOGS/rabbitmq.log" RABBITMQ_PID_FILE="$PIDS/rabbitmq.pid"
}

# apt_install PACKAGE...: from Debian's packages; the package lists are refreshed when missing,
# and once more when an install fails on stale ones.
apt_install() {
  command -v apt-get >/dev/null || return 1
  if [[ -z "$(find /var/lib/apt/lists -name '*Packages*' -print -quit 2>/dev/null)" ]]; then
    apt-get update -q >>"$LOGS/provision.log" 2>&1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$LOGS/provision.log" 2>&1 && return 0
  apt-get update -q >>"$LOGS/provision.log" 2>&1
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$LOGS/provision.log" 2>&1
}
