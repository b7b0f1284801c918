"""Who is calling: the principal of a request, verified by the service itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from okada.infra.security.internal import PRINCIPAL_HEADER, PrincipalCodec
from okada.infra.security.revocation import is_revoked
from okada.infra.security.tokens import AccessTokenVerifier
from okada.kernel.authz import Principal
from okada.kernel.errors import Unauthenticated
from okada.kernel.ports import Cache


class PrincipalResolver:
    """Resolves the caller from the gateway's signed header or, failing that, a bearer token.

    Business rule: a service verifies what it is given. The gateway's header is accepted only
    with a valid MAC (the gateway checked revocation before signing it); a bearer token is
    verified against the JWKS and checked against the revocation state in ``cache`` (the
    logout deny-list and the per-user "not before" marker) exactly like the gateway does, so a
    request that reaches a service directly gets the same answer as through the gateway.
    """

    def __init__(
        self,
        codec: PrincipalCodec,
        verifier: AccessTokenVerifier | None,
        *,
        cache: Cache | None = None,
    ) -> None:
        self.codec = codec
        self.verifier = verifier
        self.cache = cache

    async def resolve(self, request: Request) -> Principal | None:
        """Return the principal, None when anonymous; raise on a bad bearer token."""
        cached: Principal | None = getattr(request.state, "principal", None)
        if cached is not None:
            return cached
        principal = self.codec.decode(request.headers.get(PRINCIPAL_HEADER))
        if principal is None:
            authorization = request.headers.get("authorization")
            if authorization:
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() != "bearer" or not token or self.verifier is None:
                    raise Unauthenticated()
                verified = await self.verifier.verify_token(token.strip())
                if self.cache is not None and await is_revoked(self.cache, verified):
                    raise Unauthenticated()
                principal = verified.principal
        request.state.principal = principal
        return principal


async def optional_principal(request: Request) -> Principal | None:
    """Dependency: the caller, or None when anonymous."""
    resolver: PrincipalResolver = request.app.state.principal_resolver
    return await resolver.resolve(request)


async def current_principal(request: Request) -> Principal:
    """Dependency: the caller; 401 when anonymous."""
    principal = await optional_principal(request)
    if principal is None:
        raise Unauthenticated()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
