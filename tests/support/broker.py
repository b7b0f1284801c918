"""Removing what a test run declared on the shared RabbitMQ broker."""

from __future__ import annotations

import subprocess

import aio_pika

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


async def purge_broker(exchange: str, queue_prefix: str) -> None:
    """Delete the run's queues (by prefix) and its exchanges."""
    listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True,
                            text=True, timeout=60)
    names = [line.strip() for line in listed.stdout.splitlines()
             if line.strip().startswith((queue_prefix, exchange))]
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    try:
        for name in names:
            channel = await connection.channel()
            await channel.queue_delete(name)
            await channel.close()
        for suffix in ("", ".dlx", ".unrouted"):
            channel = await connection.channel()
            try:
                await channel.exchange_delete(exchange + suffix)
            finally:
                if not channel.is_closed:
                    await channel.close()
    finally:
        await connection.close()
