"""Pure rules: sanitizing, paging, metadata and magic bytes, translations, upload expiry."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from okada.infra.i18n import register_catalog_dir, translate
from okada.kernel.authz import Principal, Role
from okada.services.sync.adapters.files import DiskBlobStore
from okada.services.sync.application.uploads import UploadService
from okada.services.sync.domain.changes import (
    StoredRow,
    StoredTombstone,
    parse_cursor,
    parse_migration,
    take_page,
)
from okada.services.sync.domain.errors import MalformedSync, UploadError
from okada.services.sync.domain.schema import MOBILE_SCHEMA, sanitize_value
from okada.services.sync.domain.uploads import parse_metadata, sniff_type
from tests.services.sync.conftest import SyncEnv

SYNC_SRC = Path(__file__).resolve().parents[3] / "src" / "okada" / "services" / "sync"


def test_sanitize_coerces_instead_of_rejecting() -> None:
    cart = MOBILE_SCHEMA.table("cart_items")
    places = MOBILE_SCHEMA.table("places")
    updates = MOBILE_SCHEMA.table("delivery_updates")
    assert cart is not None and places is not None and updates is not None
    quantity = cart.column("quantity")
    lat = places.column("lat")
    default = places.column("is_default")
    status = updates.column("status")
    assert quantity and lat and default and status
    assert sanitize_value(quantity, 2.6) == (3, "rounded")
    assert sanitize_value(quantity, float("nan")) == (0, "not_finite")
    assert sanitize_value(quantity, "7") == (7, "coerced_to_number")
    assert sanitize_value(lat, 123.0) == (90, "clamped")
    assert sanitize_value(lat, None) == (None, None)
    assert sanitize_value(default, 1) == (True, None)
    assert sanitize_value(default, "yes") == (False, "not_a_boolean")
    assert sanitize_value(status, "TELEPORTED") == ("AT_STORE", "unknown_choice")


def test_cursor_and_migration_parsing() -> None:
    for first in (None, "", "null", "undefined", "0"):
        assert parse_cursor(first, push=False) is None
    assert parse_cursor("42", push=True) == 42
    for bad in ("null", "0", "-1", "1.5", str(2**53)):
        with pytest.raises(MalformedSync):
            parse_cursor(bad, push=True)
    wanted = parse_migration('{"from": 1, "tables": ["t"], "columns": [{"table": "orders", '
                             '"columns": ["payable"]}]}')
    assert wanted is not None and wanted.tables == ("t",)
    assert wanted.columns == (("orders", ("payable",)),)
    with pytest.raises(MalformedSync):
        parse_migration("[1")


def test_pages_are_prefixes_of_the_change_order() -> None:
    rows = [StoredRow("t", f"r{i}", {}, seq, seq, None) for i, seq in enumerate((2, 5, 9))]
    tombs = [StoredTombstone("t", "gone", 4), StoredTombstone("t", "gone2", 11)]
    page = take_page(rows, tombs, 3)
    assert [r.id for r in page.rows] == ["r0", "r1"] and [t.id for t in page.tombstones] == [
        "gone"]
    assert page.has_more and page.last_seq == 5
    rest = take_page(rows, tombs, 10)
    assert not rest.has_more and rest.last_seq == 11


def test_upload_metadata_and_magic_bytes() -> None:
    encoded = base64.b64encode(b"image/png").decode()
    assert parse_metadata(f"filetype {encoded},empty") == {"filetype": "image/png", "empty": ""}
    with pytest.raises(UploadError):
        parse_metadata("filetype not-base64!")
    assert sniff_type(b"\xff\xd8\xff\xdb") == "image/jpeg"
    assert sniff_type(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert sniff_type(b"GIF89a") is None


def test_every_error_code_is_translated() -> None:
    register_catalog_dir(SYNC_SRC / "locales")
    codes: set[str] = set()
    for path in SYNC_SRC.rglob("*.py"):
        text = path.read_text()
        codes |= set(re.findall(r'code = "([a-z_]+)"', text))
        codes |= set(re.findall(r'(?:Error|Sync|Forbidden|NotFound|BadCursor)\("([a-z_]+)"',
                                text))
    assert len(codes) > 25
    for code in sorted(codes):
        for language in ("fr", "en"):
            for part in ("title", "detail"):
                key = f"errors.{code}.{part}"
                assert translate(key, language, maximum=1, value="v", name="n", cursor=1,
                                 current=1, version=1, table="t", tables="t", columns="c",
                                 allowed="a", purposes="p", offset=0, header="h",
                                 retry_after=5) != key, (code, language)


@pytest.fixture
async def uploads(env: SyncEnv, tmp_path: Path) -> AsyncIterator[UploadService]:
    yield UploadService(uow_factory=env.uow, blobs=DiskBlobStore(tmp_path / "up"),
                        clock=env.clock)


async def test_unfinished_uploads_expire_and_lose_their_bytes(
        env: SyncEnv, uploads: UploadService, tmp_path: Path) -> None:
    rider = Principal(user_id=uuid.uuid4(), roles=frozenset({Role.RIDER}))
    upload = await uploads.create(rider, length=100, metadata={
        "filetype": "image/jpeg", "purpose": "proof_of_delivery", "record_id": "d1"})

    async def chunk() -> AsyncIterator[bytes]:
        yield b"\xff\xd8\xff\xe0" + b"\0" * 20

    await uploads.append(rider, upload.id, offset=0, chunks=chunk(), checksum=None)
    assert (await uploads.get(rider, upload.id)).offset == 24
    assert await uploads.expire() == 0
    env.clock.advance(hours=25)
    with pytest.raises(UploadError) as gone:
        await uploads.get(rider, upload.id)
    assert gone.value.status == 410
    assert await uploads.expire() == 1
    assert not (tmp_path / "up" / f"{upload.id}.bin").exists()
