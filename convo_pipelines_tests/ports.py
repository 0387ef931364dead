"""TCP ports for the servers the tests start: PostgreSQL clusters, pgbouncer, zero-cache, Dagster's webserver."""

import random
import socket
from pathlib import Path

import psutil

# The kernel hands out its outgoing connections' ports from this range (Linux's default when unreadable).
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_LOW = 32768
# Below these, ports are often taken by the machine's own services.
LOWEST_PORT = 10000
CANDIDATES = 200


def free_port() -> int:
    """A TCP port nothing listens on now, on IPv4 or IPv6, drawn below the kernel's range for outgoing connections.

    Not a port the kernel draws (a bind to port 0): that one is in the outgoing range, where, between this probe
    and the server's own bind, an outgoing connection of the busy machine (two test sessions run side by side in
    CI) can take it; zero-cache then exits with EADDRINUSE. Drawn at random, so that concurrent sessions rarely
    pick the same one."""
    for port in random.sample(range(LOWEST_PORT, ephemeral_low()), CANDIDATES):
        if binds(socket.AF_INET, "127.0.0.1", port) and binds(socket.AF_INET, "0.0.0.0", port) and binds_ipv6(port):
            return port
    raise RuntimeError(f"no free TCP port among {CANDIDATES} drawn in [{LOWEST_PORT}, {ephemeral_low()})")


def ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_LOW


def binds(family: socket.AddressFamily, host: str, port: int) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def binds_ipv6(port: int) -> bool:
    """True when the port is free on IPv6's any address (where zero-cache listens), or the machine has no IPv6."""
    if not socket.has_ipv6:
        return True
    try:
        return binds(socket.AF_INET6, "::", port)
    except OSError:
        return True


def tcp_connections(process: psutil.Process) -> list:
    """The process's TCP connections and listening sockets, whichever psutil is installed (6 renamed connections()
    to net_connections())."""
    if hasattr(process, "net_connections"):
        return process.net_connections(kind="tcp")
    return process.connections(kind="tcp")
