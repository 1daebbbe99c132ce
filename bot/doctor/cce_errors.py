"""What a failed CCE call means for the operator: one sentence of what happened, one of what to do.

Pure: the typed CCE error in, (detail, fix) out. The errors carry only what the API answered,
never a credential, so the detail may quote them.
"""

from __future__ import annotations

from bot.cce.errors import (
    CCEAuthError,
    CCEError,
    CCEInvalidRequest,
    CCENotFound,
    CCERateLimited,
    CCEResponseInvalid,
    CCEServerError,
    CCETLSError,
    CCETransportError,
)
from bot.doctor.clock import CLOCK_FIX

__all__ = ["AKSK_FIX", "IAM_FIX", "PERMISSION_FIX", "explain"]

AKSK_FIX = (
    "check CLOUD_SDK_AK and CLOUD_SDK_SK: the SK must be the secret key of that AK (Huawei Cloud "
    "console → My Credentials → Access Keys; a lost SK cannot be shown again, so create a new "
    "key), and a temporary AK also needs CLOUD_SDK_SECURITY_TOKEN"
)
IAM_FIX = (
    "CCE_AUTH_TOKEN is an IAM token, and those expire after 24 h: get a new one (IAM `POST "
    "/v3/auth/tokens`), or use AK/SK (CLOUD_SDK_AK and CLOUD_SDK_SK), which do not expire"
)
PERMISSION_FIX = (
    "give the IAM user CCE permissions in this project (IAM → User Groups → the user's group → "
    "Authorize): reading needs CCE ReadOnlyAccess, cancelling needs the right to update upgrade "
    "workflows (e.g. CCE FullAccess)"
)


def explain(
    exc: CCEError,
    *,
    signed: bool,
    clock_off: bool,
    origins: list[str],
    not_found: tuple[str, str],
) -> tuple[str, str]:
    """(detail, fix) for `exc`. `signed`: AK/SK is used; `clock_off`: the refusal's own `Date`
    was more than 15 min from this host's clock; `origins`: the config keys that name the
    target; `not_found`: what a 404 means here and what to do about it."""
    if isinstance(exc, CCEAuthError):
        if signed and clock_off:
            return (
                f"the gateway refused the signature ({exc}) because this host's clock is more "
                "than 15 min off the gateway's (see the clock skew check)",
                CLOCK_FIX,
            )
        if exc.status == 403:
            return f"the credentials are valid but not allowed here ({exc})", PERMISSION_FIX
        if signed:
            return f"the gateway refused the AK/SK signature ({exc})", AKSK_FIX
        return f"the gateway refused CCE_AUTH_TOKEN ({exc})", IAM_FIX
    if isinstance(exc, CCENotFound):
        return f"{not_found[0]} ({exc})", not_found[1]
    if isinstance(exc, CCETLSError):
        return (
            str(exc),
            "for an endpoint with a private CA set cce.ca_bundle to the CA's PEM file; "
            "otherwise check that the endpoint is the CCE API and no proxy intercepts TLS",
        )
    if isinstance(exc, CCETransportError):
        return (
            f"cannot reach the endpoint ({exc})",
            f"check the region or endpoint ({', '.join(origins)}, or CCE_REGION/CCE_ENDPOINT), "
            "DNS, and that this host may connect to it (firewall, proxy)",
        )
    if isinstance(exc, CCERateLimited):
        return (
            f"the gateway is throttling these credentials ({exc})",
            "run doctor again in a minute; other tools using the same credentials share the limit",
        )
    if isinstance(exc, CCEServerError):
        return (
            f"the API failed ({exc})",
            "run doctor again; if it persists, check Huawei Cloud's status page and raise a "
            "ticket quoting the request id",
        )
    if isinstance(exc, CCEResponseInvalid):
        return (
            f"the endpoint answered, but not like the CCE API ({exc}, HTTP {exc.status})",
            f"check the endpoint ({', '.join(origins)}, or CCE_ENDPOINT): it should be "
            "https://cce.<region>.myhuaweicloud.com, not another service",
        )
    if isinstance(exc, CCEInvalidRequest):
        return str(exc), "fix it as `cce-upgrade-bot check` says"
    return (
        f"the API refused the call ({exc})",
        "raise a ticket with Huawei Cloud quoting the request id",
    )
