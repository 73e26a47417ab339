import contextlib

import pytest

from sandbox.platform import create_sandbox
from services.publish.app import build as publish
from shared.settings import DEV_PLATFORM_SECRET
from tests.conftest import serving
from tests.support import EventTap, free_port

pytestmark = pytest.mark.integration


@pytest.fixture
async def site(settings):
    """Publish on a real port, pushing to a sandbox platform: (portal URL, tap, platform URL, settings)."""
    async with site_for(settings) as running_site:
        yield running_site


@contextlib.asynccontextmanager
async def site_for(settings):
    sandbox_port, publish_port = free_port(), free_port()
    settings = settings.model_copy(
        update={
            "platform_url": f"http://127.0.0.1:{sandbox_port}",
            "portal_base_url": f"http://127.0.0.1:{publish_port}",
        }
    )
    async with (
        serving(create_sandbox(DEV_PLATFORM_SECRET, settings.platform_url), sandbox_port),
        EventTap(settings) as tap,
        serving(publish(settings), publish_port) as url,
    ):
        yield url, tap, settings.platform_url, settings
