"""Refusals: the one way a stage says no.

Every refusal becomes an OpenAI-shaped error with a stable ``code``. The message must say what the
caller can do next and must never echo a sensitive value.
"""

from __future__ import annotations


class Refusal(Exception):
    """A call refused on purpose, with an HTTP status and a stable machine-readable code."""

    status: int = 400
    code: str = "invalid_request"
    type: str = "invalid_request_error"
    # Response headers the refusal carries (a rate limit's Retry-After and x-ratelimit-*).
    headers: tuple[tuple[bytes, bytes], ...] = ()

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class InvalidRequest(Refusal):
    status = 400
    code = "invalid_request"


class PayloadTooLarge(Refusal):
    status = 413
    code = "request_too_large"


class RequestTimeout(Refusal):
    """The peer did not send its whole request in time; the connection is closed after this answer."""

    status = 408
    code = "request_timeout"


class HeadersTooLarge(Refusal):
    status = 431
    code = "headers_too_large"


class UnsupportedEncoding(Refusal):
    status = 415
    code = "unsupported_encoding"


class Unauthenticated(Refusal):
    status = 401
    code = "invalid_api_key"
    type = "authentication_error"


class Forbidden(Refusal):
    status = 403
    code = "permission_denied"
    type = "permission_error"


class PolicyDenied(Refusal):
    status = 403
    code = "policy_denied"
    type = "permission_error"


class DataBlocked(Refusal):
    status = 403
    code = "data_blocked"
    type = "permission_error"


class ApprovalRequired(Refusal):
    status = 403
    code = "approval_required"
    type = "permission_error"


class ModelNotFound(Refusal):
    status = 404
    code = "model_not_found"
    type = "invalid_request_error"


class NotFound(Refusal):
    status = 404
    code = "not_found"


class UpstreamUnavailable(Refusal):
    status = 502
    code = "upstream_unavailable"
    type = "api_error"


class UpstreamAuthFailed(Refusal):
    """The provider refused the gateway's own credentials: a deployment problem, not the caller's."""

    status = 502
    code = "upstream_auth_failed"
    type = "api_error"


class UpstreamTimeout(Refusal):
    status = 504
    code = "upstream_timeout"
    type = "api_error"


class InternalFailure(Refusal):
    """A component broke. The call fails closed; the detail goes to the log, not the caller."""

    status = 500
    code = "internal_error"
    type = "api_error"


class ServiceUnavailable(Refusal):
    status = 503
    code = "service_unavailable"
    type = "api_error"


class BudgetExceeded(Refusal):
    """A budget (money or tokens, a day or a month) has no room for this call. 429 with OpenAI's
    ``insufficient_quota`` type, so clients treat it as quota rather than a rate they can wait out."""

    status = 429
    code = "budget_exceeded"
    type = "insufficient_quota"


class BudgetUnavailable(Refusal):
    """The budget counters cannot be reached: a budgeted call is refused rather than let through uncounted."""

    status = 503
    code = "budget_unavailable"
    type = "api_error"


class RateLimited(Refusal):
    """A requests or tokens per minute limit is reached; ``Retry-After`` says when to try again."""

    status = 429
    code = "rate_limit_exceeded"
    type = "requests"

    def __init__(self, message: str, headers: tuple[tuple[bytes, bytes], ...], *, type: str = "requests") -> None:
        super().__init__(message)
        self.headers = headers
        self.type = type


class RateLimitUnavailable(Refusal):
    """The rate-limit counters cannot be reached and the deployment fails closed for them."""

    status = 503
    code = "rate_limit_unavailable"
    type = "api_error"
