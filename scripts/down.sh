#!/usr/bin/env bash
# `make down`: stop exactly what `make up` (or the test suite's provisioning) started here.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

if [[ "${GONGKAI_USE_DOCKER:-auto}" != "no" ]] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  docker compose down
  exit 0
fi

for name in ingest review publish stats sandbox mongodb; do
  for process in $(recorded "$name"); do  # every replica of a service
    stop "$process"
  done
done
if alive rabbitmq; then
  rabbitmq_env
  "$RABBITMQ_BIN/rabbitmqctl" stop "$PIDS/rabbitmq.pid" >/dev/null 2>&1 || stop rabbitmq
  say "stopped rabbitmq"
  # Erlang's port mapper outlives the node it served; stop it unless another node still uses it.
  epmd_bin="$(command -v epmd || ls /usr/lib/erlang/erts-*/bin/epmd 2>/dev/null | head -n 1)"
  if [[ -n "$epmd_bin" ]] && ! "$epmd_bin" -names 2>/dev/null | grep -q "^name "; then
    "$epmd_bin" -kill >/dev/null 2>&1 || true
  fi
fi
rm -f "$PIDS/rabbitmq.pid"
