"""Where webhooks may go: public addresses only, so that a subscription cannot turn publish into
a caller of the network it runs in (SSRF: loopback, private and link-local ranges, the cloud
metadata service at 169.254.169.254). Operators name the internal networks they trust.

A delivery connects to the very address that was judged (`Destination`): were the host looked
up again to connect, a name server answering a public address to the check and 127.0.0.1 to
the connection (DNS rebinding) would walk around it. The request still names the host (Host
header, and the TLS server name its certificate is checked against)."""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def refusal(address: str, trusted: list[Network]) -> str | None:
    """Why `address` is no place for a delivery (None: it is)."""
    ip = ipaddress.ip_address(address.split("%")[0])  # an IPv6 zone names a link: still that address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if any(ip in network for network in trusted):
        return None
    if ip.is_global and not ip.is_multicast:
        return None
    return (
        f"{address} is not a public address (loopback, private, link-local or reserved); webhooks go to "
        "public addresses, or to networks the operator trusts (GONGKAI_WEBHOOK_TRUSTED_NETWORKS)"
    )


@dataclass(frozen=True)
class Destination:
    """A webhook URL with its host resolved and judged: where the request is sent (`url`, the
    address in place of the name) and the name it is for (`host`, `server_name`)."""

    url: str
    host: str  # the Host header: the URL's host and port as written
    server_name: str | None  # for https: the name the server's certificate must carry


class Unreachable(Exception):
    """The host does not resolve now: the delivery fails and is tried again."""


async def addresses_of(url: str) -> list[str]:
    parts = urlsplit(url)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or _default_port(parts.scheme), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise Unreachable(f"{parts.hostname} does not resolve: {exc}") from exc
    return [address[0] for *_, address in found]


async def closed_to(url: str, trusted: list[Network]) -> str | None:
    """Why a subscription to `url` is refused, judged by every address its host resolves to now.
    A host that does not resolve is not refused here: its deliveries fail and are tried again."""
    try:
        return _first_refusal(await addresses_of(url), trusted)
    except Unreachable:
        return None


async def destination(url: str, trusted: list[Network]) -> Destination | str:
    """Where to send a delivery to `url`, or why not: every address the host resolves to is
    judged, and the request goes to the first of them."""
    addresses = await addresses_of(url)
    if why := _first_refusal(addresses, trusted):
        return why
    parts = urlsplit(url)
    ip = ipaddress.ip_address(addresses[0].split("%")[0])
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    port = parts.port or _default_port(parts.scheme)
    pinned = urlunsplit(parts._replace(netloc=f"{literal}:{port}"))
    host = parts.netloc.rsplit("@", 1)[-1]
    return Destination(pinned, host, parts.hostname if parts.scheme == "https" else None)


def _first_refusal(addresses: list[str], trusted: list[Network]) -> str | None:
    return next((why for address in addresses if (why := refusal(address, trusted))), None)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80
