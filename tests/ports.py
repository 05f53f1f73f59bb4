"""Free TCP ports on 127.0.0.1 for the services tests start."""

from nightjar.embedded.ports import free_port

__all__ = ["free_port"]
