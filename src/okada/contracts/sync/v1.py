"""sync.v1: files uploaded by the apps (tus) and the record each one belongs to."""

from __future__ import annotations

import datetime as dt
import uuid

from okada.contracts.base import ContractModel, IntegrationEvent


class UploadState(ContractModel):
    """A finished upload.

    ``purpose`` says what the file is for and ``record_id`` which record it belongs to:
    ``proof_of_delivery`` → a delivery id (rider photo), ``product_image`` → a product id
    (merchant image). ``url`` is the sync service's path serving the bytes to their owner
    and to services.
    """

    owner_id: uuid.UUID
    purpose: str
    record_id: str
    url: str
    content_type: str
    size: int
    sha256: str
    filename: str | None = None
    completed_at: dt.datetime


class UploadCompleted(IntegrationEvent, schema="sync.v1.UploadCompleted"):
    """All bytes of an upload arrived and passed the type check (``entity_id`` = upload id)."""

    state: UploadState
