#!/usr/bin/env bash
# `make up`: the whole system running on this machine and ready. With a Docker engine, the same
# through compose.yaml; without one, local RabbitMQ and FerretDB (scripts/servers.sh) and the
# services as processes. Idempotent: what already runs is left alone, what died is started again.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

SERVICES=(ingest review publish stats)
declare -A PORTS=([ingest]=8081 [review]=8082 [publish]=8083 [stats]=8084 [sandbox]=8090)

if [[ "${GONGKAI_USE_DOCKER:-auto}" != "no" ]] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  say "Docker engine found: docker compose up"
  docker compose up --detach --wait --build
  exit 0
fi

scripts/bootstrap.sh
scripts/servers.sh

# A port held by something that is not ours would make a service fail obscurely: say so now.
for name in "${!PORTS[@]}"; do
  if ! alive "$name" && listening "${PORTS[$name]}"; then
    die "port ${PORTS[$name]} is taken by another process; $name cannot start (see: ss -ltnp)"
  fi
done

export GONGKAI_PLATFORM_URL="${GONGKAI_PLATFORM_URL:-http://127.0.0.1:${PORTS[sandbox]}}"
start sandbox .venv/bin/gongkai sandbox platform
for name in "${SERVICES[@]}"; do
  start "$name" .venv/bin/python -m "services.$name"
done

.venv/bin/gongkai ready --wait 60 sandbox "${SERVICES[@]}" ||
  die "not every service came up within 60 s (logs: $LOGS)"

say ""
say "gongkai is up:"
say "  ingest   http://127.0.0.1:${PORTS[ingest]}/docs"
say "  review   http://127.0.0.1:${PORTS[review]}/docs"
say "  publish  http://127.0.0.1:${PORTS[publish]}/portal/"
say "  stats    http://127.0.0.1:${PORTS[stats]}/v1/stats  (charts: /dashboard)"
say "  platform sandbox http://127.0.0.1:${PORTS[sandbox]}/items"
say "demo tokens (kept in .state/demo-tokens.json; 'gongkai demo' submits sample items):"
.venv/bin/gongkai demo --tokens-only
say "logs in .state/logs/, stop everything with: make down"
