from scripts.asyncapi import document
from tests.support import ROOT


def test_the_committed_asyncapi_document_is_the_one_the_code_generates():
    committed = (ROOT / "docs" / "asyncapi.yaml").read_text()
    assert committed == document(), "docs/asyncapi.yaml is stale: run `make asyncapi`"


def test_every_routing_key_is_documented():
    text = (ROOT / "docs" / "asyncapi.yaml").read_text()
    for key in (
        "submission.received",
        "submission.withdrawn",
        "review.approved",
        "review.rejected",
        "review.returned",
        "publication.published",
        "publication.failed",
        "publication.withdrawn",
    ):
        assert f"address: {key}" in text
