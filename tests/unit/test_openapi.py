"""What each service's OpenAPI and HTTP layer promise a client, checked without servers (the
apps are built, their lifespan — database, broker — is not started)."""

import re

import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from pydantic import ValidationError

from services.ingest.app import build as ingest
from services.publish.app import build as publish
from services.review.app import build as review
from services.review.domain.decisions import Decision
from services.stats.app import build as stats
from shared.settings import Settings

BUILDS = {"ingest": ingest, "review": review, "publish": publish, "stats": stats}


@pytest.fixture(scope="module", params=list(BUILDS))
def app(request):
    return BUILDS[request.param](Settings(namespace="openapi"))


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_bearer_auth_is_documented_on_every_operation_that_needs_it(app):
    schema = app.openapi()
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token issued by `gongkai admin`",
    }
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        assert ("401" in responses) == bool(operation.get("security")), (method, path)


def test_each_operation_lists_the_errors_it_can_give(app):
    for path, method, operation in operations(app.openapi()):
        responses = set(operation["responses"])
        if "requestBody" not in operation:
            assert not responses & {"400", "413", "415"}, (method, path)
        if "{" not in path:
            assert "404" not in responses, (method, path)
        if not operation.get("parameters") and "requestBody" not in operation:
            assert "422" not in responses, (method, path)


def test_the_portal_front_page_promises_no_body_errors():
    responses = publish(Settings(namespace="openapi")).openapi()["paths"]["/portal/"]["get"]["responses"]
    assert not set(responses) & {"400", "413", "415", "409", "429", "401"}


ALLOWED = [
    (review, "/v1/wordlists/deployment", {"GET", "PUT"}),
    (publish, "/v1/subscriptions", {"GET", "POST"}),
    (publish, "/v1/subscriptions/" + "0" * 32, {"GET", "DELETE"}),
]


@pytest.mark.parametrize(("build", "path", "methods"), ALLOWED)
def test_options_and_405_name_every_method_of_the_path(build, path, methods):
    client = TestClient(build(Settings(namespace="openapi")))
    options = client.options(path)
    assert options.status_code == 204
    assert methods | {"OPTIONS"} <= set(options.headers["allow"].split(", "))
    refused = client.patch(path, json={})
    assert refused.status_code == 405 and refused.headers["content-type"] == "application/problem+json"
    assert methods <= set(refused.headers["allow"].split(", "))


def test_docs_load_nothing_from_elsewhere(app):
    client = TestClient(app)
    page = client.get("/docs")
    assert page.status_code == 200
    assert not re.findall(r"""(?:src|href)=["']?(?:https?:)?//""", page.text), page.text
    for asset in re.findall(r"""(?:src|href)=["']?(/[^"' >]+)""", page.text):
        assert client.get(asset).status_code == 200, asset
    assert "redoc" not in page.text.lower()


def test_a_rejection_without_a_reason_is_refused_naming_reason():
    for body in ({"decision": "reject", "reason": None}, {"decision": "reject"}):
        with pytest.raises(ValidationError) as refused:
            Decision.model_validate(body)
        assert [e["loc"] for e in refused.value.errors()] == [("reason",)]
    with pytest.raises(ValidationError) as refused:
        Decision.model_validate({"decision": "return", "comment": " "})
    assert [e["loc"] for e in refused.value.errors()] == [("comment",)]


def test_the_decision_schema_says_a_rejection_needs_a_reason():
    schema = review(Settings(namespace="openapi")).openapi()["components"]["schemas"]["Decision"]
    rules = {
        rule["if"]["properties"][next(iter(rule["if"]["properties"]))]["const"]: rule["then"]
        for rule in schema["allOf"]
    }
    assert (
        rules["reject"]["required"] == ["reason"]
        and rules["reject"]["properties"]["reason"]["type"] == "string"
    )
    assert rules["return"]["required"] == ["comment"]


def test_every_openapi_document_is_valid_openapi_3_1(app):
    schema = app.openapi()
    assert schema["openapi"].startswith("3.1")
    validate(schema)


def test_publish_documents_every_delivery_in_webhooks_with_the_item_resource():
    schema = publish(Settings(namespace="openapi")).openapi()
    assert set(schema["webhooks"]) == {
        f"{kind}.{change}"
        for kind in ("item", "publication")
        for change in ("published", "updated", "withdrawn")
    }
    delivery = schema["webhooks"]["item.updated"]["post"]
    assert {p["name"] for p in delivery["parameters"]} >= {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    body = delivery["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    event = schema["components"]["schemas"][body]
    assert set(event["required"]) == {"type", "timestamp", "data"}
    assert {"Item", "WithdrawnItem"} <= set(schema["components"]["schemas"])
