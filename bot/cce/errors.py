"""Typed errors of the CCE client.

    CCEError
    ├── CCEInvalidRequest        bad input caught before any request (e.g. a malformed id)
    ├── CCEThrottled             not sent: the request budget or a 429 would hold it too long
    ├── CCETransportError        connect / read / timeout; retriable for reads
    │   └── CCETLSError          the endpoint's certificate is not trusted; never retried
    ├── CCEStatusError           got an HTTP error answer: status, error_code, error_msg, request_id
    │   ├── CCEAuthError         401 / 403
    │   ├── CCENotFound          404
    │   ├── CCEConflict          400 / 409: e.g. "not cancellable in this state"
    │   ├── CCERateLimited       429 (carries retry_after)
    │   └── CCEServerError       5xx; retriable for reads
    ├── CCEResponseInvalid       a 2xx whose body is not the model we expect
    └── CCECancelUnconfirmed     the cancel's answer was lost and a re-read could not settle it

No message or repr here ever carries a credential: only what the API answered.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "CCEAuthError",
    "CCECancelUnconfirmed",
    "CCEConflict",
    "CCEError",
    "CCEInvalidRequest",
    "CCENotFound",
    "CCERateLimited",
    "CCEResponseInvalid",
    "CCEServerError",
    "CCEStatusError",
    "CCETLSError",
    "CCEThrottled",
    "CCETransportError",
]


class CCEError(Exception):
    """Base of every error the CCE client raises."""

    request_id: str | None = None


class CCEInvalidRequest(CCEError, ValueError):
    """The call was refused before sending: an argument has the wrong shape."""


class CCEThrottled(CCEError):
    """Not sent: the request budget, or a 429's Retry-After, would have held it too long."""


class CCETransportError(CCEError):
    """No usable answer: connection refused or lost, or a timeout."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        #: Whether the request may have reached the server (matters for the cancel).
        self.sent = sent


class CCETLSError(CCETransportError):
    """The TLS handshake failed (e.g. an untrusted certificate): nothing was sent.

    Not retried: another attempt meets the same certificate.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, sent=False)


class CCEStatusError(CCEError):
    """The API answered with an error status.

    `server_date` is the gateway's clock from the answer's `Date` header, when it sent one: a
    refused AK/SK signature (401) may be the clock's fault, and `doctor` says which.
    """

    server_date: datetime | None = None

    def __init__(
        self,
        status: int,
        error_code: str | None,
        error_msg: str | None,
        request_id: str | None,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.error_msg = error_msg
        self.request_id = request_id
        text = f"HTTP {status}"
        if error_code:
            text += f" {error_code}"
        if error_msg:
            text += f": {error_msg}"
        if request_id:
            text += f" (request id {request_id})"
        super().__init__(text)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, error_code={self.error_code!r}, "
            f"error_msg={self.error_msg!r}, request_id={self.request_id!r})"
        )


class CCEAuthError(CCEStatusError):
    """401 or 403: the credentials were refused or lack permission."""


class CCENotFound(CCEStatusError):
    """404: the project, cluster or workflow does not exist."""


class CCEConflict(CCEStatusError):
    """400 or 409: the request was refused in the resource's current state."""


class CCERateLimited(CCEStatusError):
    """429: too many requests."""

    retry_after: float | None = None


class CCEServerError(CCEStatusError):
    """5xx: the service failed; reads are retried."""


class CCEResponseInvalid(CCEError):
    """A success answer whose body does not parse as the expected model."""

    def __init__(self, message: str, *, status: int, request_id: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id


class CCECancelUnconfirmed(CCEError):
    """The cancel may or may not have been applied: its answer was lost and the re-read failed."""
