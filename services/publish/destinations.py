"""Where webhooks may go: public addresses only, so that a subscription cannot turn publish into
a caller of the network it runs in (SSRF: loopback, private and link-local ranges, the cloud
metadata service at 169.254.169.254). Operators name the internal networks they trust."""

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

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


async def closed_to(url: str, trusted: list[Network]) -> str | None:
    """Why a delivery to `url` is refused, judged by every address its host resolves to now. A
    host that does not resolve is not refused here: its delivery fails and is tried again."""
    parts = urlsplit(url)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
        )
    except (socket.gaierror, UnicodeError):
        return None
    for *_, address in found:
        if why := refusal(address[0], trusted):
            return why
    return None
