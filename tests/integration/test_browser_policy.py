"""What every service's answers tell a browser: no sniffing, no framing, no referrer, scripts
from the service alone, and nothing answered to a token kept in a cache."""

import httpx
import pytest

from services.ingest.app import build as build_ingest
from services.publish.app import build as build_publish
from services.review.app import build as build_review
from services.stats.app import build as build_stats
from tests.browser import browser_page
from tests.conftest import serving
from tests.support import free_port

pytestmark = pytest.mark.integration
BUILDS = {"ingest": build_ingest, "review": build_review, "publish": build_publish, "stats": build_stats}
PAGES = {"review": "/console", "publish": "/portal/", "stats": "/dashboard"}


def assert_protected(response: httpx.Response) -> None:
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize("service", sorted(BUILDS))
async def test_every_answer_protects_its_reader_and_none_to_a_token_is_cached(settings, identities, service):
    operator = await identities.operator()
    async with (
        serving(BUILDS[service](settings), free_port()) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        public = await client.get(PAGES.get(service, "/healthz"))
        assert public.status_code == 200
        assert_protected(public)
        assert "no-store" not in public.headers.get("cache-control", "")
        authenticated = await client.get("/openapi.json", headers=operator)
        assert_protected(authenticated)
        assert authenticated.headers["cache-control"] == "no-store"
        refused = await client.get("/v1/nosuch", headers=operator)
        assert refused.status_code == 404 and refused.headers["cache-control"] == "no-store"


async def test_the_api_docs_still_run_and_a_page_runs_no_inline_script(settings):
    async with serving(build_publish(settings), free_port()) as url, browser_page() as page:
        await page.goto(f"{url}/docs")
        await page.wait_for_selector(".swagger-ui .info", timeout=15_000)
        await page.goto(f"{url}/portal/")
        ran = await page.evaluate(
            """() => new Promise(done => {
                document.addEventListener('securitypolicyviolation', () => done(false), {once: true});
                const script = document.createElement('script');
                script.textContent = 'window.injected = true';
                document.body.appendChild(script);
                setTimeout(() => done(window.injected === true), 500);
            })"""
        )
        assert ran is False


@pytest.mark.parametrize("service", sorted(BUILDS))
async def test_refusals_before_the_app_and_internal_errors_protect_their_reader_too(
    settings, identities, service
):
    """413 and 415 (answered by the body guard before the application reads a byte) and a 500 (answered
    by the outermost error handler) carry the same headers as every other answer."""
    operator = await identities.operator()
    app = BUILDS[service](settings)

    @app.get("/v1/adversary-boom")
    async def boom():
        raise RuntimeError("an unforeseen fault")

    async with serving(app, free_port()) as url, httpx.AsyncClient(base_url=url) as client:
        answers = {
            "413": await client.post(
                "/v1/x", content=b"x" * 30_000_000, headers={**operator, "content-type": "application/json"}
            ),
            "415": await client.post(
                "/v1/x", content=b"x", headers={**operator, "content-type": "text/plain"}
            ),
            "500": await client.get("/v1/adversary-boom", headers=operator),
        }
        for status, answer in answers.items():
            assert answer.status_code == int(status)
            assert answer.headers["content-type"] == "application/problem+json"
            assert_protected(answer)
            assert answer.headers["cache-control"] == "no-store", status
            assert "unforeseen" not in answer.text
