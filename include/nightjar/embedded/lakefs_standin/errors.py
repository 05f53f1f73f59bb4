"""Errors carry the HTTP status lakeFS would answer with."""


class LakeFSError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def not_found(what: str) -> LakeFSError:
    return LakeFSError(404, f"{what}: not found")


def bad_request(message: str) -> LakeFSError:
    return LakeFSError(400, message)


def conflict(message: str) -> LakeFSError:
    return LakeFSError(409, message)


def forbidden(message: str) -> LakeFSError:
    return LakeFSError(403, message)
