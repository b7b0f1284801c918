"""Every provider simulator in one ASGI app, under ``/_sim``.

Mounted in process in embedded mode; run as its own process (``okada serve simulators``) in
distributed mode. Each simulator keeps its state on ``app.state.<name>`` so tests can script it.
"""

from __future__ import annotations

from fastapi import FastAPI

from okada.simulators.sms import SmsGatewaySimulator


def create_simulators_app() -> FastAPI:
    """All provider simulators in one ASGI app, under ``/_sim``."""
    app = FastAPI(title="Okada provider simulators", docs_url=None, redoc_url=None)
    sms = SmsGatewaySimulator()
    app.state.sms = sms
    app.include_router(sms.router())

    @app.get("/healthz", include_in_schema=False)
    @app.get("/readyz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "simulators"}

    return app
