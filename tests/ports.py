"""A free TCP port on 127.0.0.1, for the process groups and servers tests start themselves."""

import socket


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; a race with other processes is possible but rare)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
