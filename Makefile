# The two commands that matter: `make up` runs the whole system here (`make up REPLICAS=3`: three
# processes of each service), `make test` proves it.
.PHONY: up down test lint format bench asyncapi schemas

up:
	scripts/up.sh

down:
	scripts/down.sh

test:
	scripts/bootstrap.sh
	scripts/browser.sh
	.venv/bin/pytest

lint:
	scripts/bootstrap.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/deptry .

format:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench:
	scripts/bootstrap.sh
	scripts/servers.sh
	@for script in bench/[!_]*.py; do .venv/bin/python $$script || exit 1; done

asyncapi:
	.venv/bin/python -m scripts.asyncapi > docs/asyncapi.yaml

schemas:
	.venv/bin/python -c 'import json; from services.publish.items import json_schema; print(json.dumps(json_schema(), ensure_ascii=False, indent=2))' > docs/item.schema.json
