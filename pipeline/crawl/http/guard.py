"""Name resolution and the address guard (SSRF).

The downloader resolves every host itself (a resolve map first, like curl's --resolve, then
the system resolver, cached) and refuses loopback, private, link-local, multicast, reserved
and unspecified addresses unless `ip:port` is on an explicit allow list. With `resolve_only`
(offline runs against a mirror) nothing outside the map is reached, IP literals included. It
checks the first hop and every redirect, and connects to the address it checked, so a name cannot
resolve to something else between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass, field


class Blocked(Exception):
    """The address is not one the crawler may connect to."""


class Unresolvable(Exception):
    pass


def is_public(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return not (
        addr.is_loopback
        or addr.is_private
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or not addr.is_global
    )


@dataclass
class Resolver:
    resolve: dict[str, str] = field(default_factory=dict)  # "host:port" -> "ip:port"
    allow: frozenset[str] = frozenset()  # "ip:port" that may be private (the sandbox server)
    resolve_only: bool = False  # never ask DNS: hosts outside the map fail (offline runs)
    _cache: dict[tuple[str, int], str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def address(self, host: str, port: int) -> tuple[str, int]:
        """The (ip, port) to connect to for host:port, or Blocked / Unresolvable."""
        mapped = self.resolve.get(f"{host}:{port}")
        if mapped:
            ip, _, mport = mapped.rpartition(":")
            ip, port = ip.strip("[]"), int(mport)
        else:
            ip = self._lookup(host, port)
        if f"{ip}:{port}" not in self.allow and not is_public(ip):
            raise Blocked(f"{host} -> {ip}:{port} is not a public address")
        return ip, port

    def _lookup(self, host: str, port: int) -> str:
        try:
            ip = str(ipaddress.ip_address(host.strip("[]")))  # an IP literal needs no DNS
        except ValueError:
            ip = None
        if ip is not None and self.resolve_only:
            # Offline runs reach only what the map names: an address in a page is no way out.
            raise Blocked(f"{host}:{port} is an address outside the resolve map (resolve_only)")
        if ip is not None:
            return ip
        if self.resolve_only:
            raise Unresolvable(f"{host} is not in the resolve map (resolve_only)")
        with self._lock:
            if (host, port) in self._cache:
                return self._cache[(host, port)]
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as e:
            raise Unresolvable(f"{host}: {e}") from e
        ip = infos[0][4][0]
        with self._lock:
            self._cache[(host, port)] = ip
        return ip


def _split_host_port(text: str, what: str) -> tuple[str, int]:
    """ "host:port" or "[v6]:port" → (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"{what} {text!r}: expected ADDR:PORT (IPv6 in brackets)")
    return host.strip("[]"), int(port)


def parse_resolve(spec: str) -> tuple[str, str]:
    """curl's `--resolve HOST:PORT:ADDR` (or HOST:PORT:ADDR:PORT2 for a mirror on another
    port) → ("host:port", "addr:port") for the resolve map."""
    host, sep, rest = spec.partition(":")
    port, sep2, addr = rest.partition(":")
    if not (host and sep and sep2 and port.isdigit() and addr):
        raise ValueError(f"--resolve {spec!r}: expected HOST:PORT:ADDR[:PORT2]")
    if addr.startswith("["):
        v6, _, tail = addr[1:].partition("]")
        addr, addr_port = v6, tail.lstrip(":") or port
    elif addr.count(":") == 1:
        addr, addr_port = addr.split(":")
    else:
        addr_port = port
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError as e:
        raise ValueError(f"--resolve {spec!r}: {addr!r} is not an IP address") from e
    if not addr_port.isdigit():
        raise ValueError(f"--resolve {spec!r}: bad port {addr_port!r}")
    shown = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"{host.lower()}:{int(port)}", f"{shown}:{int(addr_port)}"


def check_allow(spec: str, private_network: bool = False) -> str:
    """`--allow ADDR:PORT`, normalised. Loopback is for local mirrors and tests; any other
    non-public range (the LAN, cloud metadata at 169.254.169.254) is refused unless the user
    also says `--allow-private-network`: asked twice, because such an address reached from
    a page is the very SSRF the guard exists to stop."""
    host, port = _split_host_port(spec, "--allow")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError as e:
        raise ValueError(f"--allow {spec!r}: {host!r} is not an IP address") from e
    if not ip.is_loopback and not is_public(str(ip)) and not private_network:
        raise ValueError(
            f"--allow {spec}: {ip} is a private, link-local or reserved address; a crawl may "
            "reach it only with --allow-private-network as well"
        )
    return f"{ip}:{port}"
