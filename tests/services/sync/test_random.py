"""Scenario 10 (offline-sync.md section 7): five devices, random operations, random sync order.

A Hypothesis state machine drives five :class:`Device` s of one user (WatermelonDB's
``synchronize()`` re-implemented) against the sync application on SQLite: offline creates,
updates (including values the server sanitizes) and deletes of cart items and saved places,
syncs in random order, syncs with another device syncing between their pull and push (a 409
the device retries later), and edits made while a push is in flight. After every
"everyone syncs until quiet" the convergence oracle holds: each device equals the server's
live set, nothing is dirty, no id appears twice, and the client logged no ``[Sync]``
complaint. Reaching quiet within a few rounds also proves there is no push loop.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from tests.services.sync.conftest import SyncEnv, make_env
from tests.services.sync.device import Device, SyncFailed
from tests.support.databases import scratch_engine

T = TypeVar("T")
DEVICES = 5
TABLES = ("cart_items", "places")
MAX_QUIET_ROUNDS = 4

devices_ = st.integers(0, DEVICES - 1)
tables_ = st.sampled_from(TABLES)
picks_ = st.integers(0, 1000)
quantities_ = st.one_of(st.integers(1, 99), st.sampled_from([0, 150, -3]))  # some sanitized


def values_for(table: str, draw: int, quantity: int) -> dict[str, Any]:
    if table == "cart_items":
        return {"store_id": "s", "product_id": f"p{draw % 7}", "quantity": quantity,
                "added_at": draw}
    return {"label": f"Maison {draw % 5}", "city": "Douala", "quartier": f"Q{draw % 3}",
            "is_default": draw % 2 == 0}


def edit_for(table: str, draw: int, quantity: int) -> dict[str, Any]:
    if table == "cart_items":
        return {"quantity": quantity} if draw % 2 else {"added_at": draw}
    return {"label": f"Bureau {draw % 4}"} if draw % 2 else {"landmark": f"près {draw % 9}"}


def run_random_machine(env: SyncEnv, run: Any) -> None:
    class Devices(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.user = uuid.uuid4()
            self.devices = [env.device(self.user, f"dev{i}") for i in range(DEVICES)]
            self.serial = 0
            self.conflicts = 0

        def _sync(self, device: Device) -> None:
            try:
                run(device.sync())
            except SyncFailed as exc:  # a 409: everything stays dirty, retried later
                assert str(exc) == "sync_conflict", exc
                self.conflicts += 1

        def _ids(self, device: Device, table: str) -> list[str]:
            return sorted(device.tables[table])

        @rule(d=devices_, table=tables_, draw=picks_, quantity=quantities_)
        def create(self, d: int, table: str, draw: int, quantity: int) -> None:
            self.serial += 1
            self.devices[d].create(table, f"{self.user.hex[:12]}r{self.serial}",
                                   **values_for(table, draw, quantity))

        @rule(d=devices_, table=tables_, pick=picks_, draw=picks_, quantity=quantities_)
        def update(self, d: int, table: str, pick: int, draw: int, quantity: int) -> None:
            ids = self._ids(self.devices[d], table)
            if ids:
                self.devices[d].update(table, ids[pick % len(ids)],
                                       **edit_for(table, draw, quantity))

        @rule(d=devices_, table=tables_, pick=picks_)
        def delete(self, d: int, table: str, pick: int) -> None:
            ids = self._ids(self.devices[d], table)
            if ids:
                self.devices[d].delete(table, ids[pick % len(ids)])

        @rule(d=devices_)
        def sync(self, d: int) -> None:
            self._sync(self.devices[d])

        @rule(d=devices_, other=devices_)
        def sync_while_another_syncs(self, d: int, other: int) -> None:
            """``other`` syncs between ``d``'s pull and push (409 if it touched d's rows)."""
            device, real = self.devices[d], self.devices[d]._push

            async def push(changes: dict[str, Any], cursor: int) -> None:
                if other != d:
                    try:
                        await self.devices[other].sync()
                    except SyncFailed:
                        self.conflicts += 1
                await real(changes, cursor)

            device._push = push  # type: ignore[method-assign]
            try:
                self._sync(device)
            finally:
                device._push = real  # type: ignore[method-assign]

        @rule(d=devices_, table=tables_, pick=picks_, draw=picks_, quantity=quantities_)
        def edit_during_push(self, d: int, table: str, pick: int, draw: int,
                             quantity: int) -> None:
            device, real = self.devices[d], self.devices[d]._push
            self.create(d, table, draw, quantity)  # something to push, and to edit meanwhile

            async def push(changes: dict[str, Any], cursor: int) -> None:
                await real(changes, cursor)
                ids = self._ids(device, table)
                if ids:
                    target = ids[pick % len(ids)]
                    if draw % 3 == 0:
                        device.delete(table, target)
                    else:
                        device.update(table, target, **edit_for(table, draw, quantity))

            device._push = push  # type: ignore[method-assign]
            try:
                self._sync(device)
            finally:
                device._push = real  # type: ignore[method-assign]

        @rule()
        def settle(self) -> None:
            self.check_convergence()

        def teardown(self) -> None:
            self.check_convergence()

        def check_convergence(self) -> None:
            """Everyone syncs, round after round, until a round moves nothing; then the
            oracle."""
            for _ in range(MAX_QUIET_ROUNDS):
                moved = False
                for device in self.devices:
                    dirty = device.unsynced()
                    answer = run(device.sync())
                    moved = moved or dirty or any(
                        lists["created"] or lists["updated"] or lists["deleted"]
                        for lists in answer["changes"].values())
                if not moved:
                    break
            else:
                raise AssertionError(f"no quiet round after {MAX_QUIET_ROUNDS} rounds")
            for table in TABLES:
                server = run(env.server_rows(self.user, table))
                ids = run(self.server_ids(table))
                assert len(ids) == len(set(ids)) == len(server), ids
                for device in self.devices:
                    assert device.live(table) == server, (table, device.live(table), server)
            for device in self.devices:
                assert not device.unsynced()
                assert device.diagnostics == []

        async def server_ids(self, table: str) -> list[str]:
            async with env.uow() as uow:
                rows = await uow.records.all_rows({f"u:{self.user}": [table]}, upper=2**62)
            return [r.id for r in rows]

    run_state_machine_as_test(Devices, settings=settings(
        max_examples=25, stateful_step_count=20, deadline=None, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


def test_random_devices_converge(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()

    def run(awaitable: Awaitable[T]) -> T:
        return loop.run_until_complete(awaitable)

    async def setup() -> tuple[Any, SyncEnv]:
        context = scratch_engine("sqlite", tmp_path)
        engine = await context.__aenter__()
        return context, await make_env(engine)

    try:
        context, env = run(setup())
        try:
            run_random_machine(env, run)
        finally:
            run(context.__aexit__(None, None, None))
    finally:
        loop.close()
