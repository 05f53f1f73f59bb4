"""Errors carry the HTTP status lakeFS would answer with."""


class LakeFSError(Exception):
    """An error answered with lakeFS's status code and message shape, as the SDK expects."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def not_found(what: str) -> LakeFSError:
    """404, as lakeFS words it."""
    return LakeFSError(404, f"{what}: not found")


def bad_request(message: str) -> LakeFSError:
    """400 with ``message``."""
    return LakeFSError(400, message)


def conflict(message: str) -> LakeFSError:
    """409 with ``message``."""
    return LakeFSError(409, message)


def forbidden(message: str) -> LakeFSError:
    """403 with ``message`` (a protected branch, bad credentials)."""
    return LakeFSError(403, message)
