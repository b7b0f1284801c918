"""Application errors: missing resources, lost races and refused riders."""

from __future__ import annotations

from okada.kernel.errors import Conflict, Forbidden, NotFound, Unprocessable


class TransientConflict(Exception):
    """A compare-and-swap lost to a concurrent writer; the use case runs again."""


class DeliveryNotFound(NotFound):
    """No such delivery, or not one the caller may see (404 either way)."""

    code = "delivery_not_found"


class OfferNotFound(NotFound):
    """No such offer for this rider."""

    code = "offer_not_found"


class StoreUnknown(Conflict):
    """The store is not (yet) known to delivery: its catalog event has not arrived."""

    code = "store_unknown"


class OfferTaken(Conflict):
    """Another rider claimed the job first (or it was cancelled)."""

    code = "offer_taken"


class OfferExpired(Conflict):
    """The offer ran out before the rider answered."""

    code = "offer_expired"


class RiderBusy(Conflict):
    """The rider already has a job, or is not online."""

    code = "rider_busy"


class RiderOffShift(Conflict):
    """The rider is offline: pings and offers need a shift."""

    code = "rider_off_shift"


class RiderDisabled(Forbidden):
    """The rider account is disabled or no longer a rider."""

    code = "rider_disabled"


class DeliveryInProgress(Conflict):
    """The rider carries goods: finish or fail the delivery before going offline."""

    code = "delivery_in_progress"


class RiderNotFound(Unprocessable):
    """Operations named a rider delivery does not know."""

    code = "rider_not_found"
