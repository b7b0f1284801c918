"""tus 1.0 resumable uploads at ``/v1/uploads`` (core, creation, creation-with-upload,
expiration, checksum, termination)."""

from __future__ import annotations

import email.utils
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.responses import Response

from okada.infra.http.auth import CurrentPrincipal
from okada.infra.http.problems import problem_responses
from okada.services.sync.application.ports import Upload
from okada.services.sync.application.uploads import BlobStore, UploadService
from okada.services.sync.domain.errors import UploadError
from okada.services.sync.domain.uploads import (
    CHECKSUM_ALGORITHMS,
    TUS_EXTENSIONS,
    TUS_VERSION,
    parse_checksum,
    parse_metadata,
)

OFFSET_TYPE = "application/offset+octet-stream"


def _require_version(request: Request) -> None:
    version = request.headers.get("tus-resumable")
    if version != TUS_VERSION:
        raise UploadError("upload_tus_version", status=412, version=str(version)[:20])


def _int_header(request: Request, name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    if not value.strip().isdigit():
        raise UploadError("upload_bad_header", header=name)
    return int(value)


def _state_headers(upload: Upload) -> dict[str, str]:
    headers = {"Tus-Resumable": TUS_VERSION, "Upload-Offset": str(upload.offset),
               "Upload-Length": str(upload.length), "Cache-Control": "no-store"}
    if upload.status == "open":
        headers["Upload-Expires"] = email.utils.format_datetime(upload.expires_at, usegmt=True)
    return headers


def make_tus_router(uploads: UploadService, blobs: BlobStore) -> APIRouter:
    """Build the upload routes."""
    router = APIRouter(tags=["uploads"])

    @router.options("/v1/uploads", status_code=204, response_model=None)
    async def capabilities() -> Response:
        """What this tus server supports (version, extensions, maximum size, checksums)."""
        return Response(status_code=204, headers={
            "Tus-Resumable": TUS_VERSION, "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS, "Tus-Max-Size": str(uploads.policy.max_bytes),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS)})

    @router.post("/v1/uploads", status_code=201, response_model=None,
                 responses=problem_responses(400, 401, 403, 412, 413, 415))
    async def create(request: Request, principal: CurrentPrincipal) -> Response:
        """Create an upload: ``Upload-Length`` and ``Upload-Metadata`` (``filetype``,
        ``purpose`` = proof_of_delivery or product_image, ``record_id``, ``filename``).

        201 with ``Location``. A body of type ``application/offset+octet-stream`` is the
        first chunk (creation-with-upload).
        """
        _require_version(request)
        if request.headers.get("upload-defer-length"):
            raise UploadError("upload_length_required")
        upload = await uploads.create(principal, length=_int_header(request, "upload-length"),
                                      metadata=parse_metadata(
                                          request.headers.get("upload-metadata")))
        if request.headers.get("content-type", "").startswith(OFFSET_TYPE):
            upload = await uploads.append(principal, upload.id, offset=0,
                                          chunks=request.stream(),
                                          checksum=parse_checksum(
                                              request.headers.get("upload-checksum")))
        return Response(status_code=201, headers={
            **_state_headers(upload), "Location": f"/v1/uploads/{upload.id}"})

    @router.head("/v1/uploads/{upload_id}", response_model=None,
                 responses=problem_responses(401, 404, 410, 412))
    async def offset(upload_id: uuid.UUID, request: Request,
                     principal: CurrentPrincipal) -> Response:
        """The upload's offset: where the app resumes (owner only)."""
        _require_version(request)
        upload = await uploads.get(principal, upload_id)
        return Response(status_code=200, headers=_state_headers(upload))

    @router.patch("/v1/uploads/{upload_id}", status_code=204, response_model=None,
                  responses=problem_responses(400, 401, 404, 409, 410, 412, 413, 415, 460))
    async def append(upload_id: uuid.UUID, request: Request,
                     principal: CurrentPrincipal) -> Response:
        """Append bytes at ``Upload-Offset`` (409 if it is not the stored offset); 460 when
        ``Upload-Checksum`` does not match the chunk. 204 with the new ``Upload-Offset``."""
        _require_version(request)
        if not request.headers.get("content-type", "").startswith(OFFSET_TYPE):
            raise UploadError("upload_content_type", status=415)
        at = _int_header(request, "upload-offset")
        if at is None:
            raise UploadError("upload_bad_header", header="Upload-Offset")
        body: AsyncIterator[bytes] = request.stream()
        upload = await uploads.append(principal, upload_id, offset=at, chunks=body,
                                      checksum=parse_checksum(
                                          request.headers.get("upload-checksum")))
        return Response(status_code=204, headers=_state_headers(upload))

    @router.delete("/v1/uploads/{upload_id}", status_code=204, response_model=None,
                   responses=problem_responses(401, 404, 410, 412))
    async def terminate(upload_id: uuid.UUID, request: Request,
                        principal: CurrentPrincipal) -> Response:
        """Drop an upload (termination extension)."""
        _require_version(request)
        await uploads.terminate(principal, upload_id)
        return Response(status_code=204, headers={"Tus-Resumable": TUS_VERSION})

    @router.get("/v1/uploads/{upload_id}/content", response_model=None,
                responses={200: {"content": {"image/jpeg": {}}},
                           **problem_responses(401, 404, 409, 410)})
    async def content(upload_id: uuid.UUID, principal: CurrentPrincipal) -> Response:
        """The finished file (its owner, staff and services)."""
        upload = await uploads.get(principal, upload_id)
        if upload.status != "completed":
            raise UploadError("upload_incomplete", status=409)
        return Response(await blobs.read(upload.id), media_type=upload.content_type,
                        headers={"Cache-Control": "private, max-age=86400",
                                 "ETag": f'"{upload.sha256}"'})

    return router
