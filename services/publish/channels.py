"""Channel adapters behind one interface: put an item on a channel, take it off again.

`PortalSite` is gongkai's built-in portal website (its pages are served from this service's
database); `HttpPush` pushes signed JSON to an external API such as the unified platform.
"""

import json
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

import httpx

from services.publish.destinations import Destination
from services.publish.domain import ChannelReceipt, Publication, public_content
from shared.domain import Channel
from shared.events import utcnow
from shared.settings import Settings
from shared.signing import signed_headers

try:
    USER_AGENT = f"gongkai/{version('gongkai')}"  # on every push and delivery: receivers see who calls
except PackageNotFoundError:  # run from a bare source tree
    USER_AGENT = "gongkai"


class ChannelError(Exception):
    def __init__(
        self,
        message: str,
        retryable: bool = True,
        retry_after: float | None = None,
        status: int | None = None,
    ):
        super().__init__(message)
        self.retryable, self.retry_after, self.status = retryable, retry_after, status


class ChannelAdapter(Protocol):
    async def publish(self, pub: Publication) -> ChannelReceipt: ...

    async def update(self, pub: Publication) -> ChannelReceipt: ...

    async def withdraw(self, pub: Publication) -> None: ...


class PortalSite:
    def __init__(self, items, base_url: str, files_url: str):
        self._items = items  # the `portal_items` collection
        self._base_url, self._files_url = base_url.rstrip("/"), files_url

    async def publish(self, pub: Publication) -> ChannelReceipt:
        at = utcnow()
        await self._items.update_one(
            {"_id": pub.submission_id},
            {
                "$set": {
                    **public_content(pub.content, self._files_url),
                    "revision": pub.revision,  # a corrected item's page says when it was corrected
                    "state": "public",
                    "updated_at": at,
                },
                "$setOnInsert": {"published_at": at},
            },
            upsert=True,
        )
        stored = await self._items.find_one({"_id": pub.submission_id}, {"published_at": 1})
        url = f"{self._base_url}/portal/items/{pub.submission_id}"
        return ChannelReceipt(url=url, remote_id=pub.submission_id, published_at=stored["published_at"])

    async def update(self, pub: Publication) -> ChannelReceipt:
        """The page shows the corrected text; its publication day stays."""
        return await self.publish(pub)

    async def withdraw(self, pub: Publication) -> None:
        await self._items.update_one(
            {"_id": pub.submission_id}, {"$set": {"state": "withdrawn", "withdrawn_at": utcnow()}}
        )


class HttpPush:
    """POST {url}/items to publish, DELETE {url}/items/{remote_id} to withdraw, each signed."""

    def __init__(self, client: httpx.AsyncClient, url: str, secret: str, channel: str, files_url: str):
        self._client, self._url, self._secret, self._channel = client, url.rstrip("/"), secret, channel
        self._files_url = files_url

    async def publish(self, pub: Publication) -> ChannelReceipt:
        webhook_id = f"{pub.submission_id}.{self._channel}.publish"
        return self._receipt(await self._send("POST", "/items", self._body(pub), webhook_id), utcnow())

    async def update(self, pub: Publication) -> ChannelReceipt:
        """PUT the corrected revision where the item was published; its publication time stays."""
        remote_id = pub.receipt.remote_id if pub.receipt else pub.submission_id
        webhook_id = f"{pub.submission_id}.{self._channel}.update.{pub.revision}"
        response = await self._send("PUT", f"/items/{remote_id}", self._body(pub), webhook_id)
        return self._receipt(response, pub.receipt.published_at if pub.receipt else utcnow())

    def _body(self, pub: Publication) -> str:
        content = public_content(pub.content, self._files_url)
        return json.dumps({"id": pub.submission_id, "revision": pub.revision, **content}, ensure_ascii=False)

    @staticmethod
    def _receipt(response: httpx.Response, published_at) -> ChannelReceipt:
        try:
            answer = response.json()
            return ChannelReceipt(url=answer["url"], remote_id=str(answer["id"]), published_at=published_at)
        except (ValueError, KeyError, TypeError) as exc:
            raise ChannelError(f"unreadable answer from the channel: {response.text[:200]}") from exc

    async def withdraw(self, pub: Publication) -> None:
        remote_id = pub.receipt.remote_id if pub.receipt else pub.submission_id
        webhook_id = f"{pub.submission_id}.{self._channel}.withdraw"
        await self._send("DELETE", f"/items/{remote_id}", "", webhook_id, gone_is_fine=True)

    async def _send(self, method: str, path: str, body: str, webhook_id: str, gone_is_fine: bool = False):
        return await signed_request(
            self._client, method, self._url + path, body, self._secret, webhook_id, gone_is_fine
        )


async def signed_request(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    body: str,
    secret: str,
    webhook_id: str,
    gone_is_fine: bool = False,
    to: Destination | None = None,
) -> httpx.Response:
    """A request signed per Standard Webhooks, to `url` or to the address it was judged at (`to`).
    A timeout, 429 or 5xx raises a retryable ChannelError (with the Retry-After asked for);
    another refusal a final one."""
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signed_headers(secret, webhook_id, body, utcnow()),
    }
    sent_to, extensions = url, {}
    if to is not None:
        sent_to, headers["host"] = to.url, to.host
        if to.server_name:
            extensions["sni_hostname"] = to.server_name
    try:
        response = await client.request(
            method, sent_to, content=body.encode(), headers=headers, extensions=extensions
        )
    except httpx.HTTPError as exc:
        raise ChannelError(f"{type(exc).__name__}: {exc}") from exc
    if response.is_success or (gone_is_fine and response.status_code in (404, 410)):
        return response
    status = response.status_code
    message = f"{method} {url} answered {status}: {response.text[:200]}"
    if status == 429 or status >= 500:
        raise ChannelError(message, retry_after=_retry_after(response), status=status)
    raise ChannelError(message, retryable=False, status=status)


def configured_channels(
    settings: Settings, http: httpx.AsyncClient, portal_items
) -> dict[str, ChannelAdapter]:
    """Each channel by name, with the adapter its deployment configured: the platform is always
    pushed to; the portal is the built-in site unless an external CMS is named."""
    files = settings.attachments_base_url
    portal = (
        HttpPush(http, settings.portal_push_url, settings.portal_push_secret, Channel.PORTAL, files)
        if settings.portal_push_url
        else PortalSite(portal_items, settings.portal_base_url, files)
    )
    return {
        Channel.PLATFORM: HttpPush(
            http, settings.platform_url, settings.platform_secret, Channel.PLATFORM, files
        ),
        Channel.PORTAL: portal,
    }


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None
