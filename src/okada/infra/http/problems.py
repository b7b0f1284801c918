"""RFC 9457 problem details in the caller's language."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from okada.infra.i18n import negotiate, translate
from okada.kernel.errors import ErrorKind, OkadaError

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"

STATUS_BY_KIND = {
    ErrorKind.INVALID: 400,
    ErrorKind.UNPROCESSABLE: 422,
    ErrorKind.UNAUTHENTICATED: 401,
    ErrorKind.PAYMENT_REQUIRED: 402,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.CONFLICT: 409,
    ErrorKind.PRECONDITION_FAILED: 412,
    ErrorKind.PRECONDITION_REQUIRED: 428,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.TIMEOUT: 504,
}

_CODE_BY_STATUS = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    428: "precondition_required",
    429: "rate_limited",
    503: "unavailable",
    504: "upstream_timeout",
}


def problem_response(
    status: int,
    code: str,
    language: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    **params: Any,
) -> Response:
    """Build a problem+json response whose title and detail are in ``language``."""
    body: dict[str, Any] = {
        "type": f"https://okada.cm/problems/{code.replace('_', '-')}",
        "title": translate(f"errors.{code}.title", language, **params),
        "status": status,
        "detail": translate(f"errors.{code}.detail", language, **params),
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    response_headers = {"Content-Language": language, **(headers or {})}
    return Response(
        orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON, headers=response_headers
    )


def request_language(request: Request) -> str:
    """Return the negotiated language of the request (``fr`` or ``en``)."""
    return negotiate(request.headers.get("accept-language"))


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` is the database connection failing rather than the request.

    A disconnect SQLAlchemy detected, a PostgreSQL connection error (SQLSTATE class 08) or
    operator intervention (57P: the session was terminated, the server shuts down or is
    starting), a pool checkout timeout, or the socket itself refused or reset.
    """
    if isinstance(exc, sa_exc.DBAPIError):
        state = str(getattr(exc.orig, "sqlstate", None) or "")
        return (exc.connection_invalidated or state.startswith(("08", "57P"))
                or isinstance(exc.orig, ConnectionError)
                or isinstance(exc.orig and exc.orig.__cause__, ConnectionError))
    return isinstance(exc, sa_exc.TimeoutError | ConnectionError)


def install_problem_handlers(app: FastAPI) -> None:
    """Map every error to problem+json: business errors, validation, HTTP and the unexpected."""

    async def on_okada_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OkadaError)
        status = STATUS_BY_KIND[exc.kind]
        headers = {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        params = dict(exc.params)
        if exc.retry_after is not None:
            params.setdefault("retry_after", exc.retry_after)
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="okada"'
        return problem_response(
            status,
            exc.code,
            request_language(request),
            instance=request.url.path,
            headers=headers,
            **params,
        )

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        language = request_language(request)
        errors = []
        malformed = False
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                malformed = True
            errors.append(
                {"field": _field_name(tuple(err.get("loc", ()))), "message": err.get("msg", "")}
            )
        if malformed:
            return problem_response(400, "malformed_json", language, instance=request.url.path)
        fields = ", ".join(sorted({e["field"] for e in errors}))
        return problem_response(
            422,
            "validation_failed",
            language,
            instance=request.url.path,
            extra={"errors": errors},
            fields=fields,
        )

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _CODE_BY_STATUS.get(exc.status_code, "invalid_request")
        if exc.status_code == 404 and exc.detail == "Not Found":
            code = "route_not_found"
        return problem_response(
            exc.status_code,
            code,
            request_language(request),
            instance=request.url.path,
            headers=dict(exc.headers or {}),
            method=request.method,
            path=request.url.path,
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        if database_unreachable(exc):
            # The database went away under the request (dropped, refused, terminated): a
            # retry can succeed, so it is a 503 with Retry-After, never a 500.
            log.warning("http.database_unavailable", path=request.url.path, error=repr(exc))
            return problem_response(503, "unavailable", request_language(request),
                                    instance=request.url.path, headers={"Retry-After": "2"},
                                    retry_after=2)
        log.error("http.unhandled_error", path=request.url.path, error=repr(exc), exc_info=exc)
        return problem_response(500, "internal_error", request_language(request))

    app.add_exception_handler(OkadaError, on_okada_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


PROBLEM_SCHEMA = {
    "content": {
        PROBLEM_JSON: {
            "schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                    "instance": {"type": "string"},
                },
                "required": ["type", "title", "status", "code"],
            }
        }
    }
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries declaring problem+json for each status."""
    return {s: {"description": _CODE_BY_STATUS.get(s, "error"), **PROBLEM_SCHEMA} for s in statuses}
