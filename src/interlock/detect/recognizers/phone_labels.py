"""The label a digit group stands under: is it introduced as a phone number, or as something else?

Only the nearest label before a value decides ("Call 415-555-0134, SSN ..." is a phone: SSN labels what
follows it). Walking back from the value, filler words ("number", "is", "my", "at", "on"...) and the
digits of a previous value in a list ("Tel 030 123456 / 0171 123456") are passed over; the first other
word either is a label or ends the search. Words are the context tokens of ``interlock.detect.context``
(lower case, punctuation dropped), so "Tel.:", "tel" and "TEL" are one label.
"""

from __future__ import annotations

PHONE_WORDS = frozenset({
    # English
    "tel", "tele", "telephone", "phone", "phones", "ph", "phn", "mobile", "mob", "cell", "cellphone", "cellular",
    "fax", "desk", "direct", "dial", "whatsapp", "viber", "telegram", "signal", "wechat", "sms", "text", "txt",
    "landline", "hotline", "helpline", "switchboard", "office", "call", "calls", "ring", "reach", "contact",
    "phonenumber", "telno", "phoneno", "mobileno", "cellno", "mobilephone", "homephone", "workphone",
    "officephone", "telephonenumber", "mobilenumber", "faxnumber", "tty",
    # German
    "telefon", "telefonnummer", "handy", "handynummer", "mobil", "mobilnummer", "mobiltelefon", "festnetz",
    "rufnummer", "telefax", "durchwahl", "anrufen", "erreichbar", "kontakt", "fon", "tfn",
    # French
    "téléphone", "tél", "portable", "fixe", "télécopie", "appelez", "appeler", "joignable", "gsm",
    # Spanish, Portuguese
    "teléfono", "telefono", "tlf", "tlfn", "tlfno", "telf", "móvil", "movil", "celular", "cel", "llámame",
    "llamame", "llame", "llamar", "contacto", "telefone", "telemóvel", "telemovel", "ligue", "ligar",
    "contato", "whats", "zap",
    # Italian
    "cellulare", "chiamami", "chiamare", "recapito", "contatto",
    # Dutch
    "telefoon", "telefoonnummer", "mobiel", "bel", "bellen", "bereikbaar",
    # Nordic and Finnish, Icelandic
    "mobiltlf", "mobilnr", "telefonnr", "puhelin", "puh", "matkapuhelin", "faksi", "soita", "sími",
    "simi",
    # Central and Eastern Europe, Baltic, Greek, Turkish, Cyrillic
    "komórka", "komorka", "kom", "faks", "zadzwoń", "zadzwon", "telefonní", "telefonszám", "mobiltelefonszám",
    "mobitel", "telefonas", "tālrunis", "tālr", "τηλ", "τηλέφωνο", "κινητό", "тел", "телефон",
    "моб", "мобильный", "мобільний",
})

# Common words that label a number right before it ("call 0301234567") but say little a few words away.
_VERBS_AND_PLACES = frozenset({
    "call", "calls", "ring", "reach", "text", "txt", "contact", "office", "direct", "desk", "dial", "signal",
    "telegram", "bel", "bellen", "ligue", "ligar", "llame", "llamar", "appeler", "appelez", "chiamare",
    "soita", "kontakt", "contacto", "contato", "contatto", "erreichbar", "bereikbaar", "joignable", "zap",
})
# Words that make a nearby number likelier a phone wherever they stand in the context window.
NEARBY_WORDS = PHONE_WORDS - _VERBS_AND_PLACES

# Words that introduce a value of another kind: identifiers, money, dates, codes.
OTHER_WORDS = frozenset({
    "order", "orders", "bestellung", "bestellnummer", "commande", "pedido", "ordine", "bestelling", "ordre",
    "zamówienie", "invoice", "inv", "rechnung", "rechnungsnummer", "facture", "factura", "fattura", "factuur",
    "faktura", "receipt", "isbn", "issn", "ean", "upc", "gtin", "sku", "asin", "version", "ver", "build",
    "release", "serial", "sn", "seriennummer", "ticket", "case", "incident", "ref", "reference", "referenz",
    "référence", "referencia", "riferimento", "tracking", "shipment", "sendung", "sendungsnummer", "parcel",
    "awb", "id", "ids", "ident", "uuid", "guid", "account", "acct", "konto", "kontonummer", "iban", "bic",
    "swift", "routing", "aba", "card", "karte", "ssn", "sin", "nino", "passport", "reisepass", "license",
    "licence", "vat", "ust", "tax", "tin", "ein", "itin", "nif", "nie", "cif", "siret", "siren", "kvk", "crn",
    "pesel", "nip", "regon", "zip", "postcode", "postal", "plz", "postleitzahl", "cep", "cap", "amount",
    "total", "price", "sum", "betrag", "montant", "importe", "balance", "timestamp", "ts", "epoch", "date",
    "datum", "time", "booking", "buchung", "confirmation", "reservation", "member", "membership", "customer",
    "kunde", "kundennummer", "client", "patient", "mrn", "policy", "claim", "contract", "vertrag", "po",
    "batch", "lot", "model", "part", "article", "artikel", "item", "product", "pin", "otp", "code", "cvv",
    "port", "ports", "pid", "pr", "issue", "commit", "row", "page", "room", "flight", "isin", "imei", "imsi",
    "iccid", "meter", "student", "employee", "matrikel", "aktenzeichen", "az",
    # National identity numbers by their names ("social security number", "national insurance number").
    "social", "security", "insurance", "sozialversicherungsnummer", "svnr", "ahv", "nss", "bsn", "cpr",
    "personnummer", "henkilötunnus", "dni", "nir", "codice", "fiscale", "steuernummer", "steuer",
})

# Passed over between a label and its value ("Phone number (work): ...", "call me on", "my number is").
FILLER = frozenset({
    "number", "numbers", "no", "nr", "nro", "num", "nummer", "numéro", "numero", "número", "nº", "n", "is",
    "my", "our", "your", "his", "her", "their", "the", "a", "at", "on", "to", "under", "via", "by", "au",
    "al", "op", "på", "an", "am", "unter", "ist", "est", "es", "è", "é", "le", "la", "el", "il", "de", "di",
    "del", "da", "du", "van", "za", "na", "pod", "or", "oder", "ou", "o", "y", "e", "en", "et", "und", "and",
    "me", "us", "mich", "uns", "moi", "nous", "mi", "mij", "mig", "meg", "home", "work", "private",
    "personal", "business", "main", "new", "primary", "alt", "alternative", "intl", "international",
    "national", "local", "if", "needed", "urgent", "please", "bitte", "sie", "vous", "anytime",
    "wk", "hm", "nos", "s", "mio", "meu", "mein", "meine", "mon", "mijn", "min", "mój",
})

# A value directly followed by one of these is an amount or a size.
UNITS = frozenset({
    "eur", "euro", "euros", "usd", "dollars", "gbp", "chf", "sek", "nok", "dkk", "pln", "czk", "huf", "jpy",
    "inr", "brl", "mxn", "cad", "aud", "ron", "kr", "zł", "kč", "ft", "lei", "yen", "kg", "km", "mb", "gb",
    "kb", "tb", "ms", "bytes", "pts", "points",
})

_MAX_PASSED = 6
_NUMBER_WORDS = frozenset({"number", "nummer", "numéro", "numero", "número", "numer", "nr", "no"})
_POSSESSIVES = frozenset({"my", "our", "his", "her", "mein", "meine", "meiner", "unsere", "mon", "notre", "mi",
                          "mio", "nostro", "meu", "minha", "nosso", "mijn", "ons", "min", "mitt", "mój", "moje"})
# Abbreviations written with a slash, which tokens split in two: S/N (serial), A/C (account), P/O.
_SPLIT_ABBREVIATIONS = frozenset({("s", "n"), ("a", "c"), ("p", "o")})


def nearest_label(left: list[str]) -> tuple[bool, str] | None:
    """``(is_phone_label, word)`` for the label nearest before a value, or ``None`` if there is none."""
    if len(left) >= 2 and (left[-2], left[-1]) in _SPLIT_ABBREVIATIONS:
        return False, "/".join(left[-2:])
    after: str | None = None  # the token walked over just before this one
    for passed, token in enumerate(reversed(left)):
        if after in _NUMBER_WORDS and token in _POSSESSIVES:
            # "my number is", "meine Nummer", "mon numéro": a person's number is a phone number.
            return True, f"{token} {after}"
        after = token
        if token.isdigit():
            # The digits of an earlier value in a list.
            if passed >= _MAX_PASSED:
                return None
            continue
        if token in PHONE_WORDS:
            return True, token
        if token in OTHER_WORDS:
            return False, token
        if token.endswith("phone") or token.startswith("telefon") or token.startswith("phone"):
            return True, token
        if passed >= _MAX_PASSED or token not in FILLER:
            return None
    return None
