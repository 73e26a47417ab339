#!/usr/bin/env bash
# RabbitMQ and a MongoDB-protocol server on this machine, when nothing answers on 5672 / 27017:
# RabbitMQ from Debian's package, FerretDB 1.24.2 built from the Go module proxy (SQLite backend,
# data in .state/data, telemetry disabled: it must never call out). Idempotent.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rabbitmq() {
  if listening 5672; then return 0; fi
  if ! command -v rabbitmq-server >/dev/null; then
    say "installing rabbitmq-server from Debian's packages…"
    apt_install rabbitmq-server || die "RabbitMQ is not running and cannot be installed here.
  Install and start RabbitMQ 3.10+ on 127.0.0.1:5672 (guest/guest), or set GONGKAI_RABBITMQ_URL,
  or install Docker and run 'docker compose up'."
  fi
  say "starting RabbitMQ…"
  mkdir -p "$DATA/rabbitmq"
  # Debian's wrapper would drop to the rabbitmq user, who cannot write under .state/; run
  # RabbitMQ's own scripts instead, as a node of our own so that no system node is disturbed.
  rabbitmq_env
  "$RABBITMQ_BIN/rabbitmq-server" -detached >>"$LOGS/provision.log" 2>&1
  # await_startup exits 69 while the node is still booting
  wait_for "RabbitMQ" 120 "$RABBITMQ_BIN/rabbitmqctl" await_startup --timeout 5
  wait_for "RabbitMQ's AMQP port" 30 listening 5672
}

# FerretDB 1.24.2 is built with the patches in scripts/ferretdb/, applied in order (see the README,
# "Storage", and each patch's header): 0001 lets SQLite use the _id index; 0002 makes every
# single-document write atomic (compare-and-swap on the stored document, re-read and retry), which
# stock FerretDB is not; 0003 uses the _id index for a filter with other conditions beside _id
# (the version guard of every write), for which stock FerretDB scans the whole collection. The
# binary reports the build as its version (buildInfo.ferretdbVersion), so that tests and
# shared/mongo.py can tell the project's build from a stock one.
FERRETDB_PATCHES="$ROOT/scripts/ferretdb"
FERRETDB_BUILD="$FERRETDB_VERSION-atomic2"  # bump the suffix whenever a patch changes

ferretdb_binary() {
  local bin="$TOOLS/bin/ferretdb-$FERRETDB_BUILD"
  if [[ -x "$bin" ]]; then
    echo "$bin"; return 0
  fi
  command -v go >/dev/null || die "no MongoDB-protocol server answers on 27017 and Go is missing to build FerretDB.
  Install Go 1.22+ (apt-get install golang), or run MongoDB 7 on 127.0.0.1:27017, or set GONGKAI_MONGODB_URL."
  say "building FerretDB $FERRETDB_VERSION from the Go module proxy (about a minute)…" >&2
  # The module zip lacks build/version/version.txt, which FerretDB's release tooling generates and
  # without which the binary refuses to start; build from the module source with it written.
  local src="$STATE/build/ferretdb" dir
  dir="$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [[ -n "$dir" ]] || die "go mod download of FerretDB $FERRETDB_VERSION failed"
  rm -rf "$src" && mkdir -p "$(dirname "$src")" && cp -r "$dir" "$src" && chmod -R u+w "$src"
  echo "$FERRETDB_BUILD" >"$src/build/version/version.txt"
  command -v patch >/dev/null || apt_install patch || die "the 'patch' tool is missing: apt-get install patch"
  local p
  for p in "$FERRETDB_PATCHES"/*.patch; do
    (cd "$src" && patch -p1 --forward --batch --no-backup-if-mismatch --quiet) <"$p" >>"$LOGS/provision.log" 2>&1 ||
      die "the FerretDB patch $(basename "$p") no longer applies to $FERRETDB_VERSION; see $LOGS/provision.log"
  done
  mkdir -p "$TOOLS/bin"
  (cd "$src" && go build -trimpath -o "$bin" ./cmd/ferretdb) >>"$LOGS/provision.log" 2>&1 ||
    (cd "$src" && GOTOOLCHAIN=go1.24.3 go build -trimpath -o "$bin" ./cmd/ferretdb) >>"$LOGS/provision.log" 2>&1 ||
    die "building FerretDB failed; see $LOGS/provision.log"
  rm -rf "$src"
  echo "$bin"
}

mongodb() {
  if listening 27017; then return 0; fi
  local bin; bin="$(ferretdb_binary)"
  say "starting FerretDB $FERRETDB_BUILD (SQLite backend)…"
  mkdir -p "$DATA/ferretdb"
  start mongodb "$bin" --handler=sqlite --sqlite-url="file:$DATA/ferretdb/" \
    --listen-addr=127.0.0.1:27017 --state-dir="$DATA/ferretdb" --debug-addr=- \
    --telemetry=disable --log-level=warn
  wait_for "FerretDB" 30 listening 27017
}

rabbitmq
mongodb
