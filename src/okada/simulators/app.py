"""Every provider simulator in one ASGI app, under ``/_sim``.

Mounted in process in embedded mode; run as its own process (``okada serve simulators``) in
distributed mode. Each simulator keeps its state on ``app.state.<name>`` so tests can script it.
"""

from __future__ import annotations

from fastapi import FastAPI

from okada.simulators.mtn_momo import MtnMomoSimulator
from okada.simulators.orange_money import OrangeMoneySimulator
from okada.simulators.push import PushSimulator
from okada.simulators.sms import SmsGatewaySimulator


def create_simulators_app() -> FastAPI:
    """All provider simulators in one ASGI app, under ``/_sim``."""
    app = FastAPI(title="Okada provider simulators", docs_url=None, redoc_url=None)
    sms = SmsGatewaySimulator()
    app.state.sms = sms
    app.include_router(sms.router())
    sms_backup = SmsGatewaySimulator("/_sim/sms-backup", id_prefix="sms-backup")
    app.state.sms_backup = sms_backup
    app.include_router(sms_backup.router())
    push = PushSimulator()
    app.state.push = push
    app.include_router(push.router())
    mtn_momo = MtnMomoSimulator()
    app.state.mtn_momo = mtn_momo
    app.include_router(mtn_momo.router())
    orange_money = OrangeMoneySimulator()
    app.state.orange_money = orange_money
    app.include_router(orange_money.router())

    @app.get("/healthz", include_in_schema=False)
    @app.get("/readyz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "simulators"}

    return app
