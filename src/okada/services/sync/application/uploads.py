"""tus 1.0 resumable uploads of photos: proof of delivery (riders), product images (merchants).

Business rules:
    - Only JPEG, PNG and WebP, at most ``max_bytes``; the declared type (``filetype``
      metadata) must match the file's magic bytes, checked as soon as they arrive.
    - Only the owner sees or continues an upload (others get 404).
    - State (length, offset, status) is in the database and the bytes on disk, so an upload
      resumes after the app or the server restarts: ``HEAD`` tells the offset, ``PATCH``
      continues from it; a ``PATCH`` at another offset is refused (409).
    - With ``Upload-Checksum`` a chunk whose digest differs is discarded (460).
    - Unfinished uploads expire (``Upload-Expires``); a worker deletes their bytes.
    - The finished file is announced with ``sync.v1.UploadCompleted`` (owner, purpose,
      record id, url, type, size, sha256) in the transaction that completes it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from okada.contracts.sync.v1 import UploadCompleted, UploadState
from okada.kernel.authz import Principal, Role
from okada.kernel.clock import Clock
from okada.kernel.errors import Forbidden, NotFound
from okada.kernel.ids import new_id
from okada.services.sync.application.ports import SyncUnitOfWork, Upload
from okada.services.sync.domain.errors import UploadError
from okada.services.sync.domain.schema import ID_PATTERN
from okada.services.sync.domain.uploads import (
    ALLOWED_TYPES,
    MAGIC_BYTES,
    PURPOSES,
    sniff_type,
)


class BlobStore(Protocol):
    """Where upload bytes live (a folder under the service's data directory)."""

    async def create(self, upload_id: uuid.UUID) -> None:
        """Create an empty file."""

    async def write_at(self, upload_id: uuid.UUID, offset: int, chunks: AsyncIterator[bytes],
                       limit: int, algorithm: str | None) -> tuple[int, bytes | None]:
        """Cut the file at ``offset`` and append the chunks; return (bytes written, digest).

        Raises :class:`UploadError` (413) past ``limit`` bytes."""

    async def truncate(self, upload_id: uuid.UUID, size: int) -> None:
        """Cut the file back to ``size`` bytes."""

    async def head(self, upload_id: uuid.UUID, size: int) -> bytes:
        """The first bytes of the file."""

    async def sha256(self, upload_id: uuid.UUID) -> str:
        """Hex SHA-256 of the whole file."""

    async def remove(self, upload_id: uuid.UUID) -> None:
        """Delete the file."""

    async def read(self, upload_id: uuid.UUID) -> bytes:
        """The whole file."""


@dataclass(frozen=True)
class UploadPolicy:
    """Limits (settings)."""

    max_bytes: int = 10 * 1024 * 1024
    expires_after: dt.timedelta = dt.timedelta(hours=24)


def _may_upload(principal: Principal, purpose: str) -> bool:
    if purpose == "proof_of_delivery":
        return principal.has(Role.RIDER, Role.ADMIN)
    return principal.has(Role.MERCHANT_STAFF, Role.OPERATIONS, Role.ADMIN)


class UploadService:
    """Create, inspect, continue, finish and terminate uploads."""

    def __init__(self, *, uow_factory: Callable[[], SyncUnitOfWork], blobs: BlobStore,
                 clock: Clock, policy: UploadPolicy | None = None) -> None:
        self._uow = uow_factory
        self._blobs = blobs
        self._clock = clock
        self.policy = policy or UploadPolicy()
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}

    async def create(self, principal: Principal, *, length: int | None,
                     metadata: dict[str, str]) -> Upload:
        """A new upload of ``length`` bytes described by its metadata.

        Metadata: ``filetype`` (image/jpeg, image/png, image/webp), ``purpose``
        (proof_of_delivery, product_image), ``record_id`` (the delivery or product id),
        optional ``filename``.
        """
        if length is None or length <= 0:
            raise UploadError("upload_length_required")
        if length > self.policy.max_bytes:
            raise UploadError("upload_too_large", status=413, maximum=self.policy.max_bytes)
        content_type = metadata.get("filetype") or metadata.get("content_type") or ""
        if content_type not in ALLOWED_TYPES:
            raise UploadError("upload_type_not_allowed", status=415,
                              allowed=", ".join(ALLOWED_TYPES))
        purpose = metadata.get("purpose", "")
        if purpose not in PURPOSES:
            raise UploadError("upload_bad_purpose", purposes=", ".join(sorted(PURPOSES)))
        record_id = metadata.get("record_id", "")
        if not ID_PATTERN.match(record_id):
            raise UploadError("upload_bad_record")
        if not _may_upload(principal, purpose):
            raise Forbidden("upload_purpose_forbidden")
        now = self._clock.now()
        upload = Upload(new_id(), principal.user_id, purpose, record_id, content_type,
                        (metadata.get("filename") or None) and metadata["filename"][:200],
                        length, 0, "open", None, now, now + self.policy.expires_after, None)
        await self._blobs.create(upload.id)
        async with self._uow() as uow:
            await uow.uploads.add(upload)
            await uow.commit()
        return upload

    async def get(self, principal: Principal, upload_id: uuid.UUID) -> Upload:
        """The caller's upload (404 for others'; 410 once expired)."""
        async with self._uow() as uow:
            upload = await uow.uploads.get(upload_id)
        if upload is None or (upload.owner_id != principal.user_id and not principal.is_staff
                              and not principal.has(Role.SERVICE)):
            raise NotFound("upload_not_found")
        if upload.status == "expired" or (upload.status == "open"
                                          and upload.expires_at < self._clock.now()):
            raise UploadError("upload_expired", status=410)
        if upload.status in ("failed", "terminated"):
            raise NotFound("upload_not_found")
        return upload

    async def append(self, principal: Principal, upload_id: uuid.UUID, *, offset: int,
                     chunks: AsyncIterator[bytes], checksum: tuple[str, bytes] | None
                     ) -> Upload:
        """Write a chunk at ``offset`` (it must equal the stored offset: 409 otherwise)."""
        lock = self._locks.setdefault(upload_id, asyncio.Lock())
        async with lock:
            upload = await self.get(principal, upload_id)
            if upload.owner_id != principal.user_id:
                raise NotFound("upload_not_found")
            if offset != upload.offset:
                raise UploadError("upload_offset_mismatch", status=409, offset=upload.offset)
            if upload.status == "completed":
                return upload
            remaining = upload.length - upload.offset
            written, digest = await self._blobs.write_at(
                upload.id, offset, chunks, remaining, checksum[0] if checksum else None)
            if checksum is not None and digest != checksum[1]:
                await self._blobs.truncate(upload.id, offset)
                raise UploadError("upload_checksum_mismatch", status=460)
            new_offset = offset + written
            if offset < MAGIC_BYTES <= new_offset or (new_offset == upload.length
                                                      and offset < MAGIC_BYTES):
                kind = sniff_type(await self._blobs.head(upload.id, MAGIC_BYTES))
                if kind != upload.content_type:
                    await self._fail(upload)
                    raise UploadError("upload_type_mismatch", status=415)
            completed = new_offset == upload.length
            sha = await self._blobs.sha256(upload.id) if completed else None
            now = self._clock.now()
            async with self._uow() as uow:
                if not await uow.uploads.advance(upload.id, expected=offset, offset=new_offset):
                    await self._blobs.truncate(upload.id, offset)
                    raise UploadError("upload_offset_mismatch", status=409, offset=offset)
                if completed and sha is not None:
                    await uow.uploads.finish(upload.id, status="completed", sha256=sha, at=now)
                    uow.publish(UploadCompleted(
                        entity_id=upload.id, version=1,
                        state=UploadState(owner_id=upload.owner_id, purpose=upload.purpose,
                                          record_id=upload.record_id,
                                          url=f"/v1/uploads/{upload.id}/content",
                                          content_type=upload.content_type,
                                          size=upload.length, sha256=sha,
                                          filename=upload.filename, completed_at=now)))
                await uow.commit()
            return Upload(**{**upload.__dict__, "offset": new_offset,
                             "status": "completed" if completed else "open", "sha256": sha})

    async def _fail(self, upload: Upload) -> None:
        async with self._uow() as uow:
            await uow.uploads.finish(upload.id, status="failed", sha256=None,
                                     at=self._clock.now())
            await uow.commit()
        await self._blobs.remove(upload.id)

    async def terminate(self, principal: Principal, upload_id: uuid.UUID) -> None:
        """tus termination: drop an unfinished upload and its bytes."""
        upload = await self.get(principal, upload_id)
        if upload.owner_id != principal.user_id:
            raise NotFound("upload_not_found")
        async with self._uow() as uow:
            await uow.uploads.finish(upload.id, status="terminated", sha256=None,
                                     at=self._clock.now())
            await uow.commit()
        if upload.status != "completed":
            await self._blobs.remove(upload.id)

    async def expire(self, limit: int = 100) -> int:
        """Expire open uploads past their time and delete their bytes (worker)."""
        now = self._clock.now()
        async with self._uow() as uow:
            due = await uow.uploads.expired(now, limit)
            for upload in due:
                await uow.uploads.finish(upload.id, status="expired", sha256=None, at=now)
            await uow.commit()
        for upload in due:
            await self._blobs.remove(upload.id)
        return len(due)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 (tests and the worker)."""
    return hashlib.sha256(data).hexdigest()
