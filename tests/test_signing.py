"""AK/SK signing reproduces the reference's worked examples byte for byte."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import httpx
import pytest

from bot.cce.signing import AKSKAuth, Credentials, TokenAuth, canonical_request, verify

U = (
    "https://cce.cn-north-4.myhuaweicloud.com/autopilot/v3/projects/p1/clusters/c1"
    "/operation/upgradeworkflows/w1"
)
COMPACT = b'{"status":{"phase":"Cancel"}}'
SDK_BODY = b'{"status": {"phase": "Cancel"}}'
CREDS = Credentials("AKEXAMPLE", "SKEXAMPLE")


def signed(
    method: str,
    url: str,
    body: bytes = b"",
    extra: dict[str, str] | None = None,
    creds: Credentials = CREDS,
) -> httpx.Request:
    headers = {"Content-Type": "application/json", "X-Sdk-Date": "20250115T080000Z"}
    headers.update(extra or {})
    request = httpx.Request(method, url, content=body, headers=headers)
    return next(AKSKAuth(creds).auth_flow(request))


def parts(request: httpx.Request) -> tuple[str, str]:
    value = request.headers["authorization"]
    fields = dict(p.split("=", 1) for p in value.split(" ", 1)[1].split(", "))
    return fields["SignedHeaders"], fields["Signature"]


def test_example_a_canonical_request_and_signature() -> None:
    """Example A: the canonical request, its hash and the Authorization header all match."""
    assert hashlib.sha256(COMPACT).hexdigest() == (
        "b3675a857b31ad0939dada23b27507ebb37e3e1401e9cf880cc6e87c1d59db92"
    )
    canonical, signed_headers = canonical_request(
        "PATCH",
        "/autopilot/v3/projects/p1/clusters/c1/operation/upgradeworkflows/w1",
        "",
        [
            ("Content-Type", "application/json"),
            ("X-Sdk-Date", "20250115T080000Z"),
            ("Host", "cce.cn-north-4.myhuaweicloud.com"),
        ],
        hashlib.sha256(COMPACT).hexdigest(),
    )
    assert canonical == (
        "PATCH\n/autopilot/v3/projects/p1/clusters/c1/operation/upgradeworkflows/w1/\n\n"
        "content-type:application/json\nhost:cce.cn-north-4.myhuaweicloud.com\n"
        "x-sdk-date:20250115T080000Z\n\ncontent-type;host;x-sdk-date\n"
        "b3675a857b31ad0939dada23b27507ebb37e3e1401e9cf880cc6e87c1d59db92"
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "0669f41c367deb9f488f10782682d4528395812f0421083fb3fbdf897a90515f"
    )
    assert signed("PATCH", U, COMPACT).headers["authorization"] == (
        "SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=content-type;host;x-sdk-date, "
        "Signature=df6884910d139409d5a90d5aa667c2eabc576e0866ba397664dfcf71da5f9586"
    )
    assert signed_headers == "content-type;host;x-sdk-date"


P1 = {"X-Project-Id": "p1"}
PJ = "content-type;host;x-project-id;x-sdk-date"
BASE = "https://cce.cn-north-4.myhuaweicloud.com/autopilot/v3/projects/p1/clusters"


@pytest.mark.parametrize(
    ("request_", "signed_headers", "signature"),
    [
        (
            signed("PATCH", U, SDK_BODY, P1),
            PJ,
            "6fd03361e220fa6de68fe2829febc13fe74325654258dc7d9bfb01ad3d3618ef",
        ),
        (
            signed("GET", U, b"", P1),
            PJ,
            "007cf144e6e4fd7ca4829fded86acab6d2f5ad501d22b98fc3b27d06d9f6bfcf",
        ),
        (
            signed("GET", BASE + "?status=Available&detail=true", b"", P1),
            PJ,
            "e87fe27b61acc54985747eeff72510eaf82ed541cf2984be31071a6f7838471d",
        ),
        (
            signed("PATCH", U, COMPACT, P1, Credentials("AKEXAMPLE", "SKEXAMPLE", "TOKENEXAMPLE")),
            "content-type;host;x-project-id;x-sdk-date;x-security-token",
            "b2330f9f986431deee81159f1dc8f43f54043bb94cede6d82c692ed961b08315",
        ),
        (
            signed("GET", BASE + "/my%20c~1*x"),
            "content-type;host;x-sdk-date",
            "4e3ffb27f012d0080717d32bd442c0518623eb372b83897d2800795a704781f5",
        ),
        (
            signed("POST", "https://example.com/x", b"hi", {"Content-Type": "text/plain"}),
            "content-type;host;x-sdk-content-sha256;x-sdk-date",
            "7dfe725753245bc4fe7315b5a8ba0c8129fa1cd4b0e8647ce938103e148076d8",
        ),
    ],
    ids=["B", "C", "D", "E", "F", "G"],
)
def test_examples_b_to_g(request_: httpx.Request, signed_headers: str, signature: str) -> None:
    """Examples B–G of the reference, each signed header list and signature exact."""
    assert (signed_headers, signature) == parts(request_)


def test_date_comes_from_the_clock_when_absent() -> None:
    """Without X-Sdk-Date the signer stamps the injected clock's UTC time."""
    auth = AKSKAuth(CREDS, clock=lambda: datetime(2025, 1, 15, 8, 0, tzinfo=UTC))
    request = httpx.Request(
        "PATCH", U, content=COMPACT, headers={"Content-Type": "application/json"}
    )
    out = next(auth.auth_flow(request))
    assert out.headers["x-sdk-date"] == "20250115T080000Z"
    assert parts(out)[1] == "df6884910d139409d5a90d5aa667c2eabc576e0866ba397664dfcf71da5f9586"


def test_verify_accepts_own_signature_and_rejects_tampering() -> None:
    """The verifier (used by the simulator) accepts a signed request and spots a changed body."""
    request = signed("PATCH", U, COMPACT, P1)
    raw = request.url.raw_path.decode()
    headers = dict(request.headers)
    secrets = {"AKEXAMPLE": "SKEXAMPLE"}.get
    assert verify("PATCH", raw, headers, COMPACT, secrets) is None
    assert verify("PATCH", raw, headers, SDK_BODY, secrets) == "signature mismatch"
    assert verify("PATCH", raw, headers, COMPACT, {}.get) == "unknown access key"


def test_secrets_never_in_repr() -> None:
    """Neither the SK, the security token nor the IAM token shows in a repr."""
    creds = Credentials("AKEXAMPLE123", "SUPERSECRETSK", "SECURITYTOKEN")
    texts = [repr(creds), str(creds), repr(AKSKAuth(creds)), repr(TokenAuth("IAMTOKEN"))]
    for text in texts:
        assert "SUPERSECRETSK" not in text and "SECURITYTOKEN" not in text
        assert "IAMTOKEN" not in text


def test_token_auth_sets_header() -> None:
    """Static-token auth sends X-Auth-Token and no signature."""
    request = next(TokenAuth("tok").auth_flow(httpx.Request("GET", U)))
    assert request.headers["x-auth-token"] == "tok"
    assert "authorization" not in request.headers
