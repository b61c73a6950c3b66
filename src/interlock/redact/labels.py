"""Short placeholder labels per data class: ``pii.email`` -> ``EMAIL``."""

from __future__ import annotations

LABELS: dict[str, str] = {
    "pii.name": "NAME", "pii.email": "EMAIL", "pii.phone": "PHONE", "pii.address": "ADDRESS",
    "pii.date_of_birth": "DOB", "pii.age": "AGE", "pii.national_id": "NATIONAL_ID",
    "pci.card_number": "CARD", "fin.iban": "IBAN", "fin.bank_account": "BANK_ACCOUNT",
    "net.ip_address": "IP", "net.mac_address": "MAC", "secret.url_credentials": "URL_CREDENTIALS",
    "secret.api_key": "API_KEY", "secret.private_key": "PRIVATE_KEY", "secret.password": "PASSWORD",
    "secret.token": "TOKEN", "secret.connection_string": "CONNECTION_STRING",
}


def label_for(data_class: str) -> str:
    known = LABELS.get(data_class)
    if known is not None:
        return known
    tail = data_class.rsplit(".", 1)[-1]
    cleaned = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in tail.upper()).strip("_")
    return cleaned or "CUSTOM"
