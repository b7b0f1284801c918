"""Request and response bodies of the catalog API (OpenAPI; the hot reads encode rows)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt


class Strict(BaseModel):
    """Unknown fields are refused so typos and mass assignment fail loudly."""

    model_config = ConfigDict(extra="forbid")


class TextIn(Strict):
    fr: str = Field(min_length=1, max_length=2000)
    en: str = Field(min_length=1, max_length=2000)


class SlotIn(Strict):
    weekday: int = Field(ge=0, le=6, description="0 = Monday")
    opens: str = Field(examples=["07:00"])
    closes: str = Field(examples=["22:00"], description="'24:00' allowed; <= opens: overnight")


class StoreCreate(Strict):
    slug: str = Field(min_length=2, max_length=64, examples=["akwa"])
    name: str = Field(min_length=1, max_length=120)
    kind: Literal["dark_store", "partner"]
    city: str = Field(min_length=1, max_length=60)
    quartier: str = Field(min_length=1, max_length=80)
    landmark: str | None = Field(default=None, max_length=160)
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    delivery_radius_m: int | None = None
    delivery_polygon: list[tuple[float, float]] | None = Field(
        default=None, description="(lat, lng) ring, first point not repeated"
    )
    opening_hours: list[SlotIn]
    status: Literal["open", "closed", "busy"] = "open"
    prep_minutes: int = 15


class StorePatch(Strict):
    """Store staff may send ``status``, ``prep_minutes`` and ``opening_hours``; operations
    any field."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    kind: Literal["dark_store", "partner"] | None = None
    city: str | None = Field(default=None, min_length=1, max_length=60)
    quartier: str | None = Field(default=None, min_length=1, max_length=80)
    landmark: str | None = Field(default=None, max_length=160)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lng: float | None = Field(default=None, ge=-180, le=180)
    delivery_radius_m: int | None = None
    delivery_polygon: list[tuple[float, float]] | None = None
    opening_hours: list[SlotIn] | None = None
    status: Literal["open", "closed", "busy"] | None = None
    prep_minutes: int | None = None


class StoreRead(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    kind: str
    city: str
    quartier: str
    landmark: str | None
    lat: float
    lng: float
    distance_m: int | None = Field(default=None, description="only when lat/lng were given")
    status: str
    open_now: bool
    prep_minutes: int
    opening_hours: list[SlotIn]
    timezone: str
    delivery_radius_m: int | None
    delivery_polygon: list[tuple[float, float]] | None
    version: int


class StoreList(BaseModel):
    data: list[StoreRead]


class CategoryRead(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    parent_id: uuid.UUID | None
    position: int
    children: list[CategoryRead] | None = Field(default=None, description="nested view only")


class CategoryList(BaseModel):
    data: list[CategoryRead]


class ProductItem(BaseModel):
    """A product in a store's list; ``?fields=`` keeps only the named fields (and ``id``)."""

    id: uuid.UUID
    sku: str
    name: str = Field(description="in the language of Accept-Language")
    brand: str | None
    unit: str
    category_id: uuid.UUID
    store_id: uuid.UUID
    price_xaf: int
    in_stock: bool
    image_url: str | None
    sold_by_weight: bool


class ProductPageRead(BaseModel):
    data: list[ProductItem]
    next_cursor: str | None
    has_more: bool


class ChangesRead(BaseModel):
    changes: list[ProductItem]
    deleted: list[uuid.UUID]
    next: str = Field(description="pass back as since= to resume")
    has_more: bool


class ImageIn(Strict):
    url: str = Field(max_length=500)
    width: int


class LocalisedRead(BaseModel):
    name: str
    unit: str
    description: str | None


class ProductRead(BaseModel):
    id: uuid.UUID
    sku: str
    category_id: uuid.UUID
    name: str
    unit: str
    description: str | None
    brand: str | None
    barcode: str | None
    images: list[ImageIn]
    image_url: str | None
    tags: list[str]
    sold_by_weight: bool
    version: int
    translations: dict[str, LocalisedRead]
    store_id: uuid.UUID | None = None
    price_xaf: int | None = None
    listed: bool | None = None
    in_stock: bool | None = None


class CategoryCreate(Strict):
    slug: str = Field(min_length=2, max_length=64)
    parent_id: uuid.UUID | None = None
    name: TextIn
    position: int = 0


class CategoryPatch(Strict):
    parent_id: uuid.UUID | None = None
    name: TextIn | None = None
    position: int | None = None


class CategoryWritten(BaseModel):
    id: uuid.UUID
    slug: str
    parent_id: uuid.UUID | None
    name: TextIn
    position: int
    version: int


class ProductCreate(Strict):
    sku: str = Field(min_length=1, max_length=64)
    category_id: uuid.UUID
    name: TextIn
    unit: TextIn
    description: TextIn | None = None
    brand: str | None = Field(default=None, max_length=80)
    barcode: str | None = Field(default=None, max_length=14)
    images: list[ImageIn] = []
    tags: list[str] = []
    sold_by_weight: bool = False
    featured: bool = False


class ProductPatch(Strict):
    category_id: uuid.UUID | None = None
    name: TextIn | None = None
    unit: TextIn | None = None
    description: TextIn | None = None
    brand: str | None = Field(default=None, max_length=80)
    barcode: str | None = Field(default=None, max_length=14)
    images: list[ImageIn] | None = None
    tags: list[str] | None = None
    sold_by_weight: bool | None = None
    featured: bool | None = None


class ProductWritten(BaseModel):
    id: uuid.UUID
    sku: str
    category_id: uuid.UUID
    name: TextIn
    unit: TextIn
    description: TextIn | None
    brand: str | None
    barcode: str | None
    images: list[ImageIn]
    tags: list[str]
    sold_by_weight: bool
    featured: bool
    version: int
    deleted: bool


class OfferPut(Strict):
    price_xaf: StrictInt = Field(description="whole XAF above zero", examples=[650])
    listed: StrictBool = True


class OfferRead(BaseModel):
    id: uuid.UUID
    store_id: uuid.UUID
    product_id: uuid.UUID
    price_xaf: int
    listed: bool
    in_stock: bool
    version: int


class ImportErrorRead(BaseModel):
    row: int = Field(description="spreadsheet row: the header is row 1")
    field: str
    code: str
    message: str


class ImportReportRead(BaseModel):
    imported: int = Field(description="rows applied, unchanged ones included")
    unchanged: int
    created_products: int
    failed: int
    errors: list[ImportErrorRead]
