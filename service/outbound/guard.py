"""The SSRF guard: a subscriber URL may only reach public addresses, checked when written and at connect time.

Anyone allowed to create a subscription chooses where this service sends
requests from inside the network; without a guard that is a way to reach
the database, the broker, a cloud metadata endpoint. So a URL is refused
unless every address its host resolves to is global (or inside the
operator's `CARRIER_EVENTS_OUTBOUND_ALLOW_NETS`). Checking only when the
subscription is written is not enough: the name may resolve elsewhere at
send time (DNS rebinding), so the client session resolves through
`GuardedResolver`, which drops disallowed addresses, and an IP-literal host
(which aiohttp connects to without resolving) is checked before each send
(`literal_refusal`). Redirects are never followed (the sender posts with
`allow_redirects=False`), so a public URL cannot bounce a request inward.
"""
from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], Iterable[str]]


def parse_nets(text: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR networks from a comma- or space-separated list; ValueError naming a bad entry."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    nets = []
    for item in items:
        try:
            nets.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not a network (CIDR such as 10.0.0.0/8 or fd00::/8)") from None
    return tuple(nets)


def _plain(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_allowed(address: str | IPAddress, allow_nets: Sequence[IPNetwork] = ()) -> bool:
    """Global unicast, or inside one of the allowed networks."""
    try:
        ip = _plain(ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address))
    except ValueError:
        return False
    if any(ip.version == net.version and ip in net for net in allow_nets):
        return True
    return ip.is_global and not ip.is_multicast


def _system_resolve(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def refuse_reason(url: str, allow_nets: Sequence[IPNetwork] = (), resolve: Resolve = _system_resolve) -> str | None:
    """Why this URL may not be a subscriber's (None: it may). Resolves the host (blocking: the system
    resolver), so call it where a short wait is acceptable (writing a subscription)."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return "not a URL"
    if parsed.scheme not in ("http", "https"):
        return "the URL scheme must be http or https"
    if not parsed.is_absolute() or not parsed.raw_host:
        return "the URL has no host"
    if parsed.user is not None or parsed.password is not None:
        return "the URL must not carry a user name or password (the signature authenticates deliveries)"
    if parsed.fragment:
        return "the URL must not have a fragment"
    host = parsed.raw_host
    literal = literal_refusal(parsed, allow_nets)
    if literal is not None or _is_literal(host):
        return literal
    try:
        addresses = set(resolve(host, parsed.port or 443))
    except (OSError, UnicodeError) as exc:
        return f"the host {host} does not resolve ({exc.strerror if isinstance(exc, OSError) else exc})"
    if not addresses:
        return f"the host {host} does not resolve"
    refused = sorted(a for a in addresses if not address_allowed(a, allow_nets))
    if refused:
        return (f"the host {host} resolves to a non-public address ({', '.join(refused[:3])}); "
                "only public addresses, or those in CARRIER_EVENTS_OUTBOUND_ALLOW_NETS, are allowed")
    return None


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def literal_refusal(url: URL | str, allow_nets: Sequence[IPNetwork] = ()) -> str | None:
    """The connect-time check for an IP-literal host (aiohttp does not resolve those); None for a name."""
    host = (URL(url) if isinstance(url, str) else url).raw_host or ""
    if not _is_literal(host):
        return None
    if address_allowed(host.strip("[]"), allow_nets):
        return None
    return (f"{host} is not a public address; only public addresses, or those in "
            "CARRIER_EVENTS_OUTBOUND_ALLOW_NETS, are allowed")


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver with disallowed addresses dropped: a name that rebinds to a private address
    between the check and the send connects nowhere (OSError, a failed attempt) instead of inward."""

    def __init__(self, allow_nets: Sequence[IPNetwork] = (), inner: AbstractResolver | None = None) -> None:
        self._allow = tuple(allow_nets)
        self._inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [r for r in results if address_allowed(r["host"], self._allow)]
        if not allowed:
            shown = ", ".join(sorted({r["host"] for r in results})[:3])
            raise OSError(errno.EACCES, f"{host} resolves only to non-public addresses ({shown}); not connecting")
        return allowed

    async def close(self) -> None:
        await self._inner.close()
