"""Errors the notifications API reports (titles and details in ``locales``)."""

from __future__ import annotations

from okada.kernel.errors import NotFound, Unavailable, Unprocessable


class NotificationNotFound(NotFound):
    """No notification with this id belongs to the caller (404)."""

    code = "notification_not_found"


class DeviceNotFound(NotFound):
    """The caller has no device with this token (404)."""

    code = "device_not_found"


class InvalidDeviceToken(Unprocessable):
    """The push token is empty, too long or has characters a token never has (422)."""

    code = "invalid_device_token"


class SmsUndeliverable(Unavailable):
    """No SMS provider accepted the message (503); the caller may try again."""

    code = "sms_not_sent"
