"""A database that goes away under a request is a 503 to retry, never a 500."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import exc as sa_exc

from okada.infra.http.app import create_service_app
from okada.infra.http.auth import PrincipalResolver
from okada.infra.http.problems import database_unreachable
from okada.infra.security.internal import PrincipalCodec


class _PgError(Exception):
    """What asyncpg hands SQLAlchemy: an error carrying its SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _dbapi(orig: BaseException, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(("error", "unreachable"), [
    (_dbapi(_PgError("57P01")), True),  # admin_shutdown: pg_terminate_backend
    (_dbapi(_PgError("08006")), True),  # connection_failure
    (_dbapi(_PgError("57P03")), True),  # cannot_connect_now: the server is starting
    (_dbapi(_PgError("23505")), False),  # unique violation: a bug or a race, not an outage
    (_dbapi(_PgError("40001")), False),  # serialization failure: the caller's business
    (_dbapi(ValueError("bad"), invalidated=True), True),  # SQLAlchemy saw the disconnect
    (_dbapi(asyncpg.exceptions.ConnectionDoesNotExistError("gone")), True),  # 08003
    (_dbapi(ConnectionResetError("reset")), True),
    (sa_exc.TimeoutError("QueuePool limit reached"), True),  # no connection to check out
    (ConnectionRefusedError("refused"), True),
    (ValueError("a plain bug"), False),
])
def test_what_counts_as_the_database_being_unreachable(error: BaseException,
                                                       unreachable: bool) -> None:
    assert database_unreachable(error) is unreachable


@pytest.mark.parametrize(("language", "detail_word"), [("fr", "indisponible"),
                                                       ("en", "unavailable")])
async def test_a_dropped_connection_is_a_translated_503_with_retry_after(
    language: str, detail_word: str
) -> None:
    router = APIRouter()

    @router.get("/v1/probe")
    async def probe() -> None:
        raise _dbapi(_PgError("57P01"))  # the session was terminated mid-request

    @router.get("/v1/bug")
    async def bug() -> None:
        raise _dbapi(_PgError("23505"))

    app = create_service_app(service="probe", routers=[router],
                             resolver=PrincipalResolver(PrincipalCodec("s" * 32), None),
                             readiness={}, access_log=False)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe.test") as client:
        answer = await client.get("/v1/probe", headers={"Accept-Language": language})
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.headers["retry-after"] == "2"
        assert detail_word in (answer.json()["title"] + answer.json().get("detail", "")).lower()
        other = await client.get("/v1/bug")
        assert other.status_code == 500  # not every database error is an outage
