"""Upload bytes on disk under the service's data folder (``<data_dir>/sync/uploads``)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from okada.services.sync.domain.errors import UploadError


class DiskBlobStore:
    """One file per upload, named by its id; writes go through a worker thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, upload_id: uuid.UUID) -> Path:
        """Where the bytes of ``upload_id`` are."""
        return self.folder / f"{upload_id}.bin"

    async def create(self, upload_id: uuid.UUID) -> None:
        def run() -> None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.path(upload_id).touch()

        await asyncio.to_thread(run)

    async def write_at(self, upload_id: uuid.UUID, offset: int, chunks: AsyncIterator[bytes],
                       limit: int, algorithm: str | None) -> tuple[int, bytes | None]:
        path = self.path(upload_id)
        if not path.exists():
            await self.create(upload_id)
        hasher = hashlib.new(algorithm) if algorithm else None
        handle = await asyncio.to_thread(open, path, "r+b")
        written = 0
        try:
            # Bytes past the stored offset come from a write that never committed its offset.
            await asyncio.to_thread(handle.truncate, offset)
            await asyncio.to_thread(handle.seek, offset)
            async for chunk in chunks:
                if not chunk:
                    continue
                written += len(chunk)
                if written > limit:
                    await asyncio.to_thread(handle.truncate, offset)
                    raise UploadError("upload_too_large", status=413, maximum=limit)
                if hasher is not None:
                    hasher.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.flush)
            await asyncio.to_thread(os.fsync, handle.fileno())
        finally:
            await asyncio.to_thread(handle.close)
        return written, hasher.digest() if hasher is not None else None

    async def truncate(self, upload_id: uuid.UUID, size: int) -> None:
        def run() -> None:
            with open(self.path(upload_id), "r+b") as handle:
                handle.truncate(size)

        await asyncio.to_thread(run)

    async def head(self, upload_id: uuid.UUID, size: int) -> bytes:
        def run() -> bytes:
            with open(self.path(upload_id), "rb") as handle:
                return handle.read(size)

        return await asyncio.to_thread(run)

    async def sha256(self, upload_id: uuid.UUID) -> str:
        def run() -> str:
            digest = hashlib.sha256()
            with open(self.path(upload_id), "rb") as handle:
                for block in iter(lambda: handle.read(1 << 16), b""):
                    digest.update(block)
            return digest.hexdigest()

        return await asyncio.to_thread(run)

    async def remove(self, upload_id: uuid.UUID) -> None:
        await asyncio.to_thread(self.path(upload_id).unlink, missing_ok=True)

    async def read(self, upload_id: uuid.UUID) -> bytes:
        """The whole file (photos are at most a few MiB)."""
        return await asyncio.to_thread(self.path(upload_id).read_bytes)
