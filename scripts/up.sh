#!/usr/bin/env bash
# `make up`: the whole system running on this machine and ready. With a Docker engine, the same
# through compose.yaml; without one, local RabbitMQ and FerretDB (scripts/servers.sh) and the
# services as processes, REPLICAS of each (default 1; `make up REPLICAS=3`), the sandbox once.
# Idempotent: what already runs is left alone, what died is started again, replicas beyond
# REPLICAS are stopped.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

REPLICAS="${REPLICAS:-1}"
[[ "$REPLICAS" =~ ^[1-9][0-9]?$ ]] || die "REPLICAS must be a number from 1 to 99, not '$REPLICAS'"
SERVICES=(ingest review publish stats)
declare -A PORTS=(
  [ingest]="${GONGKAI_INGEST_PORT:-8081}" [review]="${GONGKAI_REVIEW_PORT:-8082}"
  [publish]="${GONGKAI_PUBLISH_PORT:-8083}" [stats]="${GONGKAI_STATS_PORT:-8084}"
  [sandbox]="${GONGKAI_SANDBOX_PORT:-8090}"
)

if [[ "${GONGKAI_USE_DOCKER:-auto}" != "no" ]] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  say "Docker engine found: docker compose up ($REPLICAS replica(s) of each service)"
  GONGKAI_REPLICAS="$REPLICAS" docker compose up --detach --wait --build
  exit 0
fi

scripts/bootstrap.sh
scripts/servers.sh

# A port held by something that is not ours would make a service fail obscurely: say so now.
# (Replicas share their port with SO_REUSEPORT, so a stranger doing the same would share it too.)
for name in "${!PORTS[@]}"; do
  if ! any_alive "$name" && listening "${PORTS[$name]}"; then
    die "port ${PORTS[$name]} is taken by another process; $name cannot start (see: ss -ltnp)"
  fi
done

export GONGKAI_PLATFORM_URL="${GONGKAI_PLATFORM_URL:-http://127.0.0.1:${PORTS[sandbox]}}"
start sandbox .venv/bin/gongkai sandbox platform
for name in "${SERVICES[@]}"; do
  for replica in $(recorded "$name"); do  # fewer replicas than last time (or a NAME.pid of old)
    if [[ ! "$replica" =~ -([0-9]+)$ ]] || ((BASH_REMATCH[1] > REPLICAS)); then stop "$replica"; fi
  done
  for n in $(seq 1 "$REPLICAS"); do
    start "$name-$n" .venv/bin/python -m "services.$name"
  done
done

.venv/bin/gongkai ready --wait 60 sandbox "${SERVICES[@]}" ||
  die "not every service came up within 60 s (logs: $LOGS)"
for name in "${SERVICES[@]}"; do  # /readyz answered on each port; every replica must serve it too
  for replica in $(recorded "$name"); do
    wait_for "$replica" 60 listens "$replica" "${PORTS[$name]}"
  done
done

say ""
say "gongkai is up, $REPLICAS process(es) of each service (pids in .state/pids/, one file each):"
say "  ingest   http://127.0.0.1:${PORTS[ingest]}/docs"
say "  review   http://127.0.0.1:${PORTS[review]}/docs"
say "  publish  http://127.0.0.1:${PORTS[publish]}/portal/"
say "  stats    http://127.0.0.1:${PORTS[stats]}/v1/stats  (charts: /dashboard)"
say "  platform sandbox http://127.0.0.1:${PORTS[sandbox]}/items"
say "demo tokens (kept in .state/demo-tokens.json; 'gongkai demo' submits sample items):"
.venv/bin/gongkai demo --tokens-only
say "logs in .state/logs/, stop everything with: make down"
