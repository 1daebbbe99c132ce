"""AK/SK request signing (`SDK-HMAC-SHA256`) and static-token auth, as `httpx.Auth` flows.

The algorithm is the one Huawei Cloud's SDK core implements (reference §4.2); the functions here
are shared by the client (to sign) and the simulator (to verify). Credentials never appear in a
repr, a log line or an exception.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, unquote

import httpx

__all__ = [
    "ALGORITHM",
    "AKSKAuth",
    "Credentials",
    "ParsedAuthorization",
    "TokenAuth",
    "authorization_header",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "parse_authorization",
    "signature",
    "verify",
]

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Headers we sign when present. Transport-managed ones (connection, content-length,
# accept-encoding) stay unsigned: a proxy or httpx itself may change them.
_SIGNED = (
    "content-type",
    "host",
    "x-project-id",
    "x-sdk-content-sha256",
    "x-sdk-date",
    "x-security-token",
)


def _encode(text: str) -> str:
    # Only A-Z a-z 0-9 - _ . ~ stay as they are; a space is %20, never +.
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    """Decode the path, encode each segment, and end with `/` (the URL itself keeps none)."""
    segments = unquote(path).split("/")
    uri = "/".join(_encode(segment) for segment in segments)
    return uri if uri.endswith("/") else uri + "/"


def canonical_query(query: str) -> str:
    """Sorted, encoded `name=value` pairs joined by `&` (a literal `+` stays a plus)."""
    if not query:
        return ""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    pairs.sort()
    return "&".join(f"{_encode(n)}={_encode(v)}" for n, v in pairs)


def canonical_request(
    method: str,
    path: str,
    query: str,
    headers: Iterable[tuple[str, str]],
    payload_hash: str,
) -> tuple[str, str]:
    """The canonical request and the SignedHeaders list for the given (already chosen) headers."""
    chosen = sorted((name.lower(), str(value).strip()) for name, value in headers)
    signed = ";".join(name for name, _ in chosen)
    block = "".join(f"{name}:{value}\n" for name, value in chosen)
    text = "\n".join(
        [method.upper(), canonical_uri(path), canonical_query(query), block, signed, payload_hash]
    )
    return text, signed


def payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    """Hash of the body, or the literal value of `X-Sdk-Content-Sha256` when it is set."""
    literal = {k.lower(): v for k, v in headers.items()}.get("x-sdk-content-sha256")
    if literal is not None:
        return literal
    return hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256


def signature(secret_key: str, sdk_date: str, canonical: str) -> str:
    """HMAC-SHA256 over the string to sign, keyed with the raw SK."""
    to_sign = "\n".join([ALGORITHM, sdk_date, hashlib.sha256(canonical.encode()).hexdigest()])
    return hmac.new(secret_key.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def authorization_header(access_key: str, signed_headers: str, sig: str) -> str:
    return f"{ALGORITHM} Access={access_key}, SignedHeaders={signed_headers}, Signature={sig}"


@dataclass(frozen=True)
class ParsedAuthorization:
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> ParsedAuthorization | None:
    """Split an `SDK-HMAC-SHA256 Access=…, SignedHeaders=…, Signature=…` header, or None."""
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        return None
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if not sep:
            return None
        parts[key] = val
    try:
        return ParsedAuthorization(
            parts["Access"], tuple(parts["SignedHeaders"].split(";")), parts["Signature"]
        )
    except KeyError:
        return None


@dataclass(frozen=True, repr=False)
class Credentials:
    """An AK/SK pair and an optional security token (temporary credentials)."""

    access_key: str
    secret_key: str = field(repr=False)
    security_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Credentials(access_key={self.access_key[:4]}…, secret_key=***)"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AKSKAuth(httpx.Auth):
    """Signs each request with AK/SK, signing exactly the bytes and `Host` httpx will send."""

    requires_request_body = True

    def __init__(self, credentials: Credentials, *, clock: Callable[[], datetime] = _utc_now):
        self._credentials = credentials
        self._clock = clock

    def __repr__(self) -> str:
        return "AKSKAuth(***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        creds = self._credentials
        if creds.security_token:
            request.headers["X-Security-Token"] = creds.security_token
        if "x-sdk-date" not in request.headers:
            request.headers["X-Sdk-Date"] = self._clock().astimezone(UTC).strftime(DATE_FORMAT)
        content_type = request.headers.get("content-type", "")
        if content_type and not content_type.startswith(("application/json", "application/bson")):
            request.headers["X-Sdk-Content-Sha256"] = "UNSIGNED-PAYLOAD"
        present = dict(request.headers.items())  # httpx gives the names lower-cased
        chosen = [(n, present[n]) for n in _SIGNED if n in present]
        canonical, signed = canonical_request(
            request.method,
            request.url.raw_path.decode("ascii").split("?", 1)[0],
            request.url.query.decode("ascii"),
            chosen,
            payload_hash(present, request.content),
        )
        sig = signature(creds.secret_key, present["x-sdk-date"], canonical)
        request.headers["Authorization"] = authorization_header(creds.access_key, signed, sig)
        yield request


class TokenAuth(httpx.Auth):
    """Static IAM token sent as `X-Auth-Token`, with no signature."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "TokenAuth(***)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Auth-Token"] = self._token
        yield request


def verify(
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_for: Callable[[str], str | None],
) -> str | None:
    """Check a signed request as the gateway would; return None if valid, else the reason.

    `raw_path` is the path with its query as received (`/a/b?x=1`); `headers` are the request
    headers as received; `secret_for(access_key)` returns the SK or None for an unknown AK.
    The signed-header list is taken from the request itself, as the gateway does.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    parsed = parse_authorization(lowered.get("authorization", ""))
    if parsed is None:
        return "missing or malformed Authorization header"
    secret = secret_for(parsed.access_key)
    if secret is None:
        return "unknown access key"
    sdk_date = lowered.get("x-sdk-date")
    if sdk_date is None or "x-sdk-date" not in parsed.signed_headers:
        return "X-Sdk-Date is missing or unsigned"
    missing = [n for n in parsed.signed_headers if n not in lowered]
    if missing:
        return f"signed header {missing[0]} is missing"
    path, _, query = raw_path.partition("?")
    canonical, _ = canonical_request(
        method,
        path,
        query,
        [(n, lowered[n]) for n in parsed.signed_headers],
        payload_hash(lowered, body),
    )
    expected = signature(secret, sdk_date, canonical)
    if not hmac.compare_digest(expected, parsed.signature):
        return "signature mismatch"
    return None
