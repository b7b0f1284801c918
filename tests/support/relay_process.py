"""A bare outbox relay process, so a fault test can SIGKILL it and start it again.

Usage: ``python -m tests.support.relay_process <database url> <exchange>``.
"""

from __future__ import annotations

import asyncio
import sys

from okada.infra.bus.rabbitmq import RabbitMqBus
from okada.infra.db.engine import create_engine
from okada.infra.db.outbox import OutboxRelay
from tests.support.fault_schema import tables

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


async def main(database_url: str, exchange: str) -> None:
    engine = create_engine(database_url)
    bus = RabbitMqBus(AMQP_URL, exchange=exchange)
    await bus.start()
    relay = OutboxRelay(service="fault-producer", engine=engine, outbox=tables["outbox"], bus=bus,
                        batch_size=50, poll_interval=0.2)
    print("relay ready", flush=True)
    await relay.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
