"""The HTTP side of the CCE client: the one shared `httpx.AsyncClient`, its TLS trust, and what a
transport failure means (which error, and whether the request may have reached the server).

Imports only the errors; knows nothing of operations or models.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from bot.cce.errors import CCEInvalidRequest, CCETLSError, CCETransportError

__all__ = ["default_timeout", "http_client", "tls_context", "transport_error"]


def default_timeout() -> httpx.Timeout:
    return httpx.Timeout(15.0, connect=5.0)


def tls_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """Verify the endpoint against the system trust store, or only `ca_bundle` when given."""
    if ca_bundle is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        raise CCEInvalidRequest(f"cce.ca_bundle {ca_bundle}: cannot be used ({exc})") from exc


def http_client(
    auth: httpx.Auth | None,
    *,
    timeout: httpx.Timeout | float | None = None,
    limits: httpx.Limits | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    ca_bundle: Path | None = None,
) -> httpx.AsyncClient:
    """The process's one `httpx.AsyncClient` for CCE, on aiohttp's connection pool by default.

    httpx's own pool (httpcore) cost 2.4–2.8 ms of CPU per signed read with 20 requests in
    flight; on `httpx_aiohttp.AiohttpTransport` the same read costs about 0.66 ms
    (bench/client_cost.py). The httpx API, auth flows and exceptions stay the same. TLS uses
    the system trust store, or `ca_bundle` (a private CA); connections are kept alive, so a
    handshake is paid once per connection, not per request.
    """
    limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
    if transport is None:
        transport = AiohttpTransport(verify=tls_context(ca_bundle), limits=limits, trust_env=False)
    return httpx.AsyncClient(
        auth=auth,
        timeout=timeout if timeout is not None else default_timeout(),
        limits=limits,
        transport=transport,
        trust_env=False,
    )


def transport_error(operation: str, exc: BaseException) -> CCETransportError:
    """The typed error for an exception raised while sending (`CCETLSError` for TLS trust)."""
    untrusted = _certificate_problem(exc)
    if untrusted is not None:
        return CCETLSError(
            f"{operation}: the endpoint's TLS certificate is not trusted ({untrusted}); "
            "for a private CA set cce.ca_bundle"
        )
    what, sent = _transport_failure(exc)
    return CCETransportError(f"{operation}: {what}", sent=sent)


def _certificate_problem(exc: BaseException) -> str | None:
    """Why the certificate was refused, if that is what went wrong (any transport)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, aiohttp.ClientConnectorCertificateError):
            current = current.certificate_error  # aiohttp's wrapper, itself a CertificateError
        if isinstance(current, ssl.SSLCertVerificationError):
            return getattr(current, "verify_message", None) or "certificate verify failed"
        current = current.__cause__ or current.__context__
    return None


def _transport_failure(exc: BaseException) -> tuple[str, bool]:
    """What went wrong, and whether the request may have reached the server.

    httpx_aiohttp maps some aiohttp errors coarsely (a refused connection becomes
    `ConnectTimeout`), so the aiohttp error it wraps is looked at first.
    """
    cause = exc.__cause__
    name = type(cause if cause is not None else exc).__name__
    if isinstance(cause, aiohttp.ClientConnectorError):
        return f"connection failed ({name})", False
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return f"timed out connecting ({name})", False
    if isinstance(cause, aiohttp.ServerTimeoutError | TimeoutError):
        return f"timed out ({name})", True
    if isinstance(cause, aiohttp.ClientError):
        return f"connection failed ({name})", True
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return f"timed out connecting ({name})", False
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"timed out ({name})", True
    return f"connection failed ({name})", not isinstance(exc, httpx.ConnectError)
