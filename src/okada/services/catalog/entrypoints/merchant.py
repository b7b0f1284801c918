"""Merchant and operations HTTP API: stores, categories, products, offers, CSV.

Store staff reach only their own stores (the token's ``stores`` claim); operations and admin
reach everything. ``If-Match`` is optional on edits: when sent it must name the current
version (412 otherwise).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import Response

from okada.infra.http.auth import CurrentPrincipal
from okada.infra.http.etag import version_etag
from okada.infra.http.problems import problem_responses, request_language
from okada.infra.i18n import translate
from okada.services.catalog.application.admin import CatalogAdmin, Precondition
from okada.services.catalog.application.errors import InvalidField, PreconditionFailed
from okada.services.catalog.application.model import (
    Category,
    ImageVariant,
    LocalText,
    Offer,
    OpeningSlot,
    Product,
    Store,
    StoreStatus,
)
from okada.services.catalog.application.offers_csv import OfferImporter
from okada.services.catalog.application.queries import CatalogQueries
from okada.services.catalog.entrypoints.schemas import (
    CategoryCreate,
    CategoryPatch,
    CategoryWritten,
    ImageIn,
    ImportErrorRead,
    ImportReportRead,
    OfferPut,
    OfferRead,
    ProductCreate,
    ProductPatch,
    ProductWritten,
    SlotIn,
    StoreCreate,
    StorePatch,
    StoreRead,
    TextIn,
)

CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel")
_NON_NULLABLE = frozenset(
    {
        "name",
        "kind",
        "city",
        "quartier",
        "lat",
        "lng",
        "opening_hours",
        "status",
        "prep_minutes",
        "unit",
        "category_id",
        "images",
        "tags",
        "sold_by_weight",
        "featured",
        "position",
    }
)


def precondition_from(request: Request) -> Precondition | None:
    """The ``If-Match`` check of an edit, or None when the client sent none."""
    value = request.headers.get("if-match")
    if not value:
        return None
    tags = [tag.strip().removeprefix("W/") for tag in value.split(",")]

    def check(entity_id: uuid.UUID, version: int) -> None:
        if "*" in tags and version > 0:
            return
        if version_etag(entity_id, version) not in tags:
            raise PreconditionFailed()

    return check


def _text(value: TextIn | dict[str, str] | None) -> LocalText | None:
    if value is None:
        return None
    if isinstance(value, TextIn):
        return LocalText(fr=value.fr, en=value.en)
    return LocalText(fr=value["fr"], en=value["en"])


def _slots(values: list[SlotIn] | list[dict[str, Any]]) -> list[OpeningSlot]:
    slots = []
    for v in values:
        data = v.model_dump() if isinstance(v, SlotIn) else v
        slots.append(OpeningSlot(data["weekday"], data["opens"], data["closes"]))
    return slots


def _images(values: list[ImageIn] | list[dict[str, Any]]) -> list[ImageVariant]:
    result = []
    for v in values:
        data = v.model_dump() if isinstance(v, ImageIn) else v
        result.append(ImageVariant(data["url"], data["width"]))
    return result


def _changes(patch: StorePatch | CategoryPatch | ProductPatch) -> dict[str, Any]:
    """Turn a merge-patch body into typed changes (only the fields the client sent)."""
    raw = patch.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None and name in _NON_NULLABLE:
            raise InvalidField(field=name)
        if name in ("name", "unit", "description") and isinstance(value, dict):
            changes[name] = _text(value)
        elif name == "opening_hours":
            changes[name] = _slots(value)
        elif name == "images":
            changes[name] = _images(value)
        elif name == "status":
            changes[name] = StoreStatus(value)
        elif name == "delivery_polygon" and value is not None:
            changes[name] = [(float(p[0]), float(p[1])) for p in value]
        else:
            changes[name] = value
    # A store's area is a radius or a polygon: sending one clears the other.
    if changes.get("delivery_polygon"):
        changes.setdefault("delivery_radius_m", None)
    if changes.get("delivery_radius_m") is not None:
        changes.setdefault("delivery_polygon", None)
    return changes


def _offer_read(offer: Offer) -> OfferRead:
    return OfferRead(
        id=offer.id,
        store_id=offer.store_id,
        product_id=offer.product_id,
        price_xaf=offer.price_xaf,
        listed=offer.listed,
        in_stock=offer.in_stock,
        version=offer.version,
    )


def _category_written(category: Category) -> CategoryWritten:
    return CategoryWritten(
        id=category.id,
        slug=category.slug,
        parent_id=category.parent_id,
        name=TextIn(fr=category.name.fr, en=category.name.en),
        position=category.position,
        version=category.version,
    )


def _product_written(product: Product) -> ProductWritten:
    return ProductWritten(
        id=product.id,
        sku=product.sku,
        category_id=product.category_id,
        name=TextIn(fr=product.name.fr, en=product.name.en),
        unit=TextIn(fr=product.unit.fr, en=product.unit.en),
        description=(
            TextIn(fr=product.description.fr, en=product.description.en)
            if product.description
            else None
        ),
        brand=product.brand,
        barcode=product.barcode,
        images=[ImageIn(url=i.url, width=i.width) for i in product.images],
        tags=product.tags,
        sold_by_weight=product.sold_by_weight,
        featured=product.featured,
        version=product.version,
        deleted=product.deleted,
    )


def _json(
    model: Any,
    *,
    status: int = 200,
    etag: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    all_headers = dict(headers or {})
    if etag:
        all_headers["ETag"] = etag
    all_headers["Cache-Control"] = "private, no-store"
    return Response(
        model.model_dump_json(),
        status_code=status,
        media_type="application/json",
        headers=all_headers,
    )


def make_merchant_router(
    admin: CatalogAdmin, importer: OfferImporter, queries: CatalogQueries
) -> APIRouter:
    """Build the merchant and operations routes."""
    router = APIRouter(tags=["catalog-merchant"])
    ops = problem_responses(401, 403, 404, 409, 412, 422)

    # -- stores ---------------------------------------------------------------------------

    @router.post("/v1/merchant/stores", status_code=201, response_model=StoreRead, responses=ops)
    async def create_store(body: StoreCreate, principal: CurrentPrincipal) -> Response:
        """Open a store (operations only). The delivery area is a radius or a polygon."""
        store = await admin.create_store(
            principal,
            Store(
                id=uuid.uuid4(),
                slug=body.slug,
                name=body.name,
                kind=body.kind,
                city=body.city,
                quartier=body.quartier,
                landmark=body.landmark,
                lat=body.lat,
                lng=body.lng,
                delivery_radius_m=body.delivery_radius_m,
                delivery_polygon=(
                    [(p[0], p[1]) for p in body.delivery_polygon] if body.delivery_polygon else None
                ),
                opening_hours=_slots(body.opening_hours),
                status=StoreStatus(body.status),
                prep_minutes=body.prep_minutes,
            ),
        )
        view = StoreRead.model_validate(await queries.store(store.id))
        return _json(
            view,
            status=201,
            etag=version_etag(store.id, store.version),
            headers={"Location": f"/v1/catalog/stores/{store.id}"},
        )

    @router.patch("/v1/merchant/stores/{store_id}", response_model=StoreRead, responses=ops)
    async def update_store(
        store_id: uuid.UUID, body: StorePatch, request: Request, principal: CurrentPrincipal
    ) -> Response:
        """Change a store: its staff set status (open, busy, closed), preparation time and
        opening hours; operations change anything but the slug."""
        store = await admin.update_store(
            principal, store_id, _changes(body), precondition=precondition_from(request)
        )
        view = StoreRead.model_validate(await queries.store(store.id))
        return _json(view, etag=version_etag(store.id, store.version))

    # -- categories -----------------------------------------------------------------------

    @router.post(
        "/v1/merchant/categories",
        status_code=201,
        response_model=CategoryWritten,
        responses=ops,
    )
    async def create_category(body: CategoryCreate, principal: CurrentPrincipal) -> Response:
        """Add a category to the tree (operations only)."""
        name = _text(body.name)
        assert name is not None
        category = await admin.create_category(
            principal,
            Category(
                id=uuid.uuid4(),
                slug=body.slug,
                parent_id=body.parent_id,
                name=name,
                position=body.position,
            ),
        )
        return _json(
            _category_written(category),
            status=201,
            etag=version_etag(category.id, category.version),
        )

    @router.patch(
        "/v1/merchant/categories/{category_id}", response_model=CategoryWritten, responses=ops
    )
    async def update_category(
        category_id: uuid.UUID,
        body: CategoryPatch,
        request: Request,
        principal: CurrentPrincipal,
    ) -> Response:
        """Rename, move or reorder a category (operations only)."""
        category = await admin.update_category(
            principal, category_id, _changes(body), precondition=precondition_from(request)
        )
        return _json(_category_written(category), etag=version_etag(category.id, category.version))

    # -- products -------------------------------------------------------------------------

    @router.post(
        "/v1/merchant/products", status_code=201, response_model=ProductWritten, responses=ops
    )
    async def create_product(body: ProductCreate, principal: CurrentPrincipal) -> Response:
        """Add a product to the global catalog (operations only); stores then set offers."""
        name, unit = _text(body.name), _text(body.unit)
        assert name is not None and unit is not None
        product = await admin.create_product(
            principal,
            Product(
                id=admin.new_product_id(),
                sku=body.sku,
                category_id=body.category_id,
                name=name,
                unit=unit,
                description=_text(body.description),
                brand=body.brand,
                barcode=body.barcode,
                images=_images(body.images),
                tags=body.tags,
                sold_by_weight=body.sold_by_weight,
                featured=body.featured,
            ),
        )
        return _json(
            _product_written(product),
            status=201,
            etag=version_etag(product.id, product.version),
            headers={"Location": f"/v1/catalog/products/{product.id}"},
        )

    @router.patch(
        "/v1/merchant/products/{product_id}", response_model=ProductWritten, responses=ops
    )
    async def update_product(
        product_id: uuid.UUID,
        body: ProductPatch,
        request: Request,
        principal: CurrentPrincipal,
    ) -> Response:
        """Change a product's public record (operations only)."""
        product = await admin.update_product(
            principal, product_id, _changes(body), precondition=precondition_from(request)
        )
        return _json(_product_written(product), etag=version_etag(product.id, product.version))

    @router.delete("/v1/merchant/products/{product_id}", status_code=204, responses=ops)
    async def remove_product(
        product_id: uuid.UUID, request: Request, principal: CurrentPrincipal
    ) -> Response:
        """Withdraw a product from every store (operations only)."""
        await admin.remove_product(principal, product_id, precondition=precondition_from(request))
        return Response(status_code=204)

    # -- offers ---------------------------------------------------------------------------

    @router.get(
        "/v1/merchant/stores/{store_id}/offers/export",
        response_class=Response,
        responses={
            200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
            **problem_responses(401, 403, 404),
        },
    )
    async def export_offers(store_id: uuid.UUID, principal: CurrentPrincipal) -> Response:
        """Every offer of the store as CSV (``sku,price_xaf,listed,in_stock,...``), by SKU.
        The file imports back unchanged."""
        text = await importer.export_offers(principal, store_id)
        return Response(
            text.encode(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="offers-{store_id}.csv"',
                "Cache-Control": "private, no-store",
            },
        )

    @router.post(
        "/v1/merchant/stores/{store_id}/offers/import",
        response_model=ImportReportRead,
        responses=problem_responses(400, 401, 403, 404, 415, 422),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
    )
    async def import_offers(
        store_id: uuid.UUID, request: Request, principal: CurrentPrincipal
    ) -> Response:
        """Set many offers from a CSV (``sku,price_xaf[,listed]``; ``;`` also accepted).

        Good rows are applied together, bad rows are reported with their spreadsheet row
        number (header = row 1), field and a translated message, and change nothing. A file
        that is not readable CSV or lacks ``sku``/``price_xaf`` is refused whole. Operations
        may create unknown SKUs by adding ``name_fr,name_en,category,unit_fr`` columns.
        """
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in CSV_TYPES:
            raise HTTPException(status_code=415)
        report = await importer.import_offers(principal, store_id, await request.body())
        language = request_language(request)
        body = ImportReportRead(
            imported=report.imported,
            unchanged=report.unchanged,
            created_products=report.created_products,
            failed=report.failed,
            errors=[
                ImportErrorRead(
                    row=e.row,
                    field=e.field,
                    code=e.code,
                    message=translate(f"errors.{e.code}.detail", language, **e.params),
                )
                for e in report.errors
            ],
        )
        return _json(body, headers={"Content-Language": language})

    @router.get(
        "/v1/merchant/stores/{store_id}/offers/{product_id}",
        response_model=OfferRead,
        responses=problem_responses(401, 403, 404),
    )
    async def get_offer(
        store_id: uuid.UUID, product_id: uuid.UUID, principal: CurrentPrincipal
    ) -> Response:
        """The store's offer of a product; its ETag goes in If-Match to edit it."""
        offer = await admin.get_offer(principal, store_id, product_id)
        return _json(_offer_read(offer), etag=version_etag(offer.id, offer.version))

    @router.put(
        "/v1/merchant/stores/{store_id}/offers/{product_id}",
        response_model=OfferRead,
        responses={201: {"model": OfferRead}, **ops},
    )
    async def put_offer(
        store_id: uuid.UUID,
        product_id: uuid.UUID,
        body: OfferPut,
        request: Request,
        principal: CurrentPrincipal,
    ) -> Response:
        """Set the price (whole XAF above zero) and listing of a product in the store.

        201 when the store did not sell the product before. ``If-Match`` is optional;
        when sent it must be the offer's current ETag.
        """
        offer, created = await admin.set_offer(
            principal,
            store_id,
            product_id,
            price_xaf=body.price_xaf,
            listed=body.listed,
            precondition=precondition_from(request),
        )
        return _json(
            _offer_read(offer),
            status=201 if created else 200,
            etag=version_etag(offer.id, offer.version),
        )

    return router
