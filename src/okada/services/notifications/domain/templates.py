"""Message texts in French and English, one set per kind.

Business rules: the recipient's preferred language picks the text (French by default);
amounts are written the way each locale writes XAF (``1 500 FCFA`` / ``1,500 FCFA``); the
SMS text of every template fits one GSM-7 segment once transliterated for typical values.
Push and inbox texts keep their accents; only SMS are transliterated.
"""

from __future__ import annotations

from dataclasses import dataclass

from okada.infra.i18n import format_xaf
from okada.services.notifications.domain.policy import Kind
from okada.services.notifications.domain.sms import fit_one_segment

LANGUAGES = ("fr", "en")


@dataclass(frozen=True, slots=True)
class Template:
    """The texts of one kind in one language (``str.format`` placeholders)."""

    title: str
    body: str
    sms: str


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message ready for every channel, in one language."""

    kind: Kind
    language: str
    title: str
    body: str
    sms: str


TEMPLATES: dict[tuple[str, str], Template] = {
    ("order_confirmed", "fr"): Template(
        "Commande confirmée",
        "Votre commande {ref} de {total} est confirmée. Nous la préparons.",
        "Okada: votre commande {ref} ({total}) est confirmée. Nous la préparons.",
    ),
    ("order_confirmed", "en"): Template(
        "Order confirmed",
        "Your order {ref} of {total} is confirmed. We are preparing it.",
        "Okada: your order {ref} ({total}) is confirmed. We are preparing it.",
    ),
    ("store_new_order", "fr"): Template(
        "Nouvelle commande",
        "Nouvelle commande {ref} : {items} article(s), {total}. Acceptez-la dans l'app.",
        "Okada: nouvelle commande {ref}, {items} article(s), {total}. Acceptez-la dans l'app.",
    ),
    ("store_new_order", "en"): Template(
        "New order",
        "New order {ref}: {items} item(s), {total}. Accept it in the app.",
        "Okada: new order {ref}, {items} item(s), {total}. Accept it in the app.",
    ),
    ("order_accepted", "fr"): Template(
        "Commande acceptée",
        "Le magasin a accepté votre commande {ref}. Un livreur sera bientôt en route.",
        "Okada: commande {ref} acceptée par le magasin.",
    ),
    ("order_accepted", "en"): Template(
        "Order accepted",
        "The store accepted your order {ref}. A rider will be on the way soon.",
        "Okada: order {ref} accepted by the store.",
    ),
    ("rider_assigned", "fr"): Template(
        "Livreur trouvé",
        "Un livreur s'occupe de votre commande {ref}.",
        "Okada: un livreur s'occupe de votre commande {ref}.",
    ),
    ("rider_assigned", "en"): Template(
        "Rider on the way",
        "A rider is taking care of your order {ref}.",
        "Okada: a rider is taking care of your order {ref}.",
    ),
    ("rider_arriving", "fr"): Template(
        "Votre livreur arrive",
        "Votre livreur arrive avec la commande {ref}. Sortez à sa rencontre.{cash}",
        "Okada: votre livreur arrive avec la commande {ref}. Sortez a sa rencontre.{cash}",
    ),
    ("rider_arriving", "en"): Template(
        "Your rider is arriving",
        "Your rider is arriving with order {ref}. Please come out to meet them.{cash}",
        "Okada: your rider is arriving with order {ref}. Please come out.{cash}",
    ),
    ("order_delivered", "fr"): Template(
        "Commande livrée",
        "Votre commande {ref} a été livrée. Merci d'avoir choisi Okada !",
        "Okada: commande {ref} livree. Merci !",
    ),
    ("order_delivered", "en"): Template(
        "Order delivered",
        "Your order {ref} was delivered. Thank you for choosing Okada!",
        "Okada: order {ref} delivered. Thank you!",
    ),
    ("order_cancelled", "fr"): Template(
        "Commande annulée",
        "Votre commande {ref} a été annulée. Tout montant payé vous sera remboursé.",
        "Okada: commande {ref} annulee. Tout montant paye sera rembourse.",
    ),
    ("order_cancelled", "en"): Template(
        "Order cancelled",
        "Your order {ref} was cancelled. Any amount paid will be refunded.",
        "Okada: order {ref} cancelled. Any amount paid will be refunded.",
    ),
    ("order_expired", "fr"): Template(
        "Commande expirée",
        "Le paiement de votre commande {ref} n'a pas abouti à temps. Elle a expiré.",
        "Okada: commande {ref} expiree, paiement non recu a temps.",
    ),
    ("order_expired", "en"): Template(
        "Order expired",
        "Payment for your order {ref} did not arrive in time. The order expired.",
        "Okada: order {ref} expired, payment not received in time.",
    ),
    ("delivery_failed", "fr"): Template(
        "Livraison échouée",
        "Nous n'avons pas pu vous livrer la commande {ref}. Tout montant payé sera remboursé.",
        "Okada: livraison de la commande {ref} echouee. Tout montant paye sera rembourse.",
    ),
    ("delivery_failed", "en"): Template(
        "Delivery failed",
        "We could not deliver your order {ref}. Any amount paid will be refunded.",
        "Okada: delivery of order {ref} failed. Any amount paid will be refunded.",
    ),
    ("payment_failed", "fr"): Template(
        "Paiement échoué",
        "Le paiement de {total} pour la commande {ref} a échoué ({reason}).",
        "Okada: paiement de {total} pour la commande {ref} echoue ({reason}).",
    ),
    ("payment_failed", "en"): Template(
        "Payment failed",
        "The payment of {total} for order {ref} failed ({reason}).",
        "Okada: payment of {total} for order {ref} failed ({reason}).",
    ),
    ("refund_completed", "fr"): Template(
        "Remboursement effectué",
        "{amount} vous ont été remboursés pour la commande {ref}.",
        "Okada: {amount} rembourses pour la commande {ref}.",
    ),
    ("refund_completed", "en"): Template(
        "Refund done",
        "{amount} was refunded to you for order {ref}.",
        "Okada: {amount} refunded for order {ref}.",
    ),
    ("job_offer", "fr"): Template(
        "Nouvelle course",
        "Course {ref} : {store} vers {quartier}, gain {fee}. Acceptez avant {expires}.",
        "Okada: course {ref}, {store} vers {quartier}, gain {fee}. Acceptez avant {expires}.",
    ),
    ("job_offer", "en"): Template(
        "New delivery job",
        "Job {ref}: {store} to {quartier}, earn {fee}. Accept before {expires}.",
        "Okada: job {ref}, {store} to {quartier}, earn {fee}. Accept before {expires}.",
    ),
}

# Phrases inserted into templates, per language.
PHRASES: dict[tuple[str, str], str] = {
    ("cash", "fr"): " Montant à payer : {amount}.",
    ("cash", "en"): " Amount to pay: {amount}.",
    ("reason.NOT_ENOUGH_FUNDS", "fr"): "solde insuffisant",
    ("reason.NOT_ENOUGH_FUNDS", "en"): "insufficient balance",
    ("reason.PAYER_NOT_FOUND", "fr"): "numéro non reconnu",
    ("reason.PAYER_NOT_FOUND", "en"): "number not recognised",
    ("reason.EXPIRED", "fr"): "délai dépassé",
    ("reason.EXPIRED", "en"): "time ran out",
    ("reason.REJECTED", "fr"): "refusé",
    ("reason.REJECTED", "en"): "declined",
    ("reason.other", "fr"): "refusé par l'opérateur",
    ("reason.other", "en"): "declined by the operator",
    ("unknown", "fr"): "inconnu",
    ("unknown", "en"): "unknown",
}


def language_of(value: str | None) -> str:
    """``fr`` or ``en`` from a stored preference (French by default)."""
    if value and value.lower().startswith("en"):
        return "en"
    return "fr"


def money(amount: int, language: str) -> str:
    """An XAF amount as the language writes it."""
    return format_xaf(int(amount), language_of(language))


def phrase(key: str, language: str, **params: str) -> str:
    """A reusable phrase in ``language``."""
    return PHRASES[(key, language_of(language))].format(**params)


def payment_reason(code: str | None, language: str) -> str:
    """A provider's failure code in words."""
    key = f"reason.{code}" if (f"reason.{code}", "fr") in PHRASES else "reason.other"
    return phrase(key, language)


def render(kind: Kind, language: str, **params: str) -> Rendered:
    """Fill the template of ``kind`` in ``language``; the SMS text is GSM-7, one segment."""
    lang = language_of(language)
    template = TEMPLATES[(kind.value, lang)]
    return Rendered(
        kind=kind,
        language=lang,
        title=template.title.format(**params),
        body=template.body.format(**params),
        sms=fit_one_segment(template.sms.format(**params)),
    )
