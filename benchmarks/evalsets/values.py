"""Personal and financial values for one document, from Faker in the document's locale."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date

import phonenumbers
from benchmarks.evalsets import negatives, secrets
from benchmarks.evalsets.doc import Item
from faker import Faker

ZWSP = "\u200b"
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

# Faker falls back to en_US for an Estonian phone or street, so those are composed here.
ET_STREETS = ["Männi", "Pärna", "Kase", "Tamme", "Vahtra", "Lille", "Kooli", "Metsa", "Aia", "Jõe", "Sepa", "Kalda"]
ET_SUFFIX = ["tn", "tänav", "pst", "mnt"]
ET_CITIES = [("Tallinn", "10"), ("Tartu", "50"), ("Pärnu", "80"), ("Narva", "20"), ("Viljandi", "71"),
             ("Rakvere", "44"), ("Mustoja", "45")]

REGION = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "de_AT": "AT", "de_CH": "CH", "fr_FR": "FR", "fr_CH": "CH",
          "es_ES": "ES", "es_MX": "MX", "it_IT": "IT", "nl_NL": "NL", "pl_PL": "PL", "cs_CZ": "CZ", "sk_SK": "SK",
          "pt_PT": "PT", "pt_BR": "BR", "sv_SE": "SE", "da_DK": "DK", "fi_FI": "FI", "no_NO": "NO", "et_EE": "EE",
          "en_IN": "IN", "en_AU": "AU", "en_CA": "CA", "ro_RO": "RO", "hu_HU": "HU", "hr_HR": "HR", "sl_SI": "SI",
          "en_IE": "IE", "el_GR": "GR"}
# Locales whose Faker IBAN carries that country's own code and length.
IBAN_LOCALES = ["de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "cs_CZ", "pt_PT", "da_DK", "fi_FI", "de_CH",
                "de_AT", "sk_SK", "ro_RO", "no_NO", "en_GB", "el_GR"]
CARD_BRANDS = ["visa16", "visa16", "visa13", "visa19", "mastercard", "mastercard", "amex", "discover", "diners",
               "jcb16", "jcb15", "maestro"]
EMAIL_DOMAINS = ["gmail.com", "outlook.com", "yahoo.com", "web.de", "gmx.de", "orange.fr", "libero.it", "wp.pl",
                 "seznam.cz", "hotmail.co.uk", "icloud.com", "proton.me", "telia.com", "mail.ee", "uol.com.br"]


_FAKERS: dict[str, Faker] = {}


def faker_for(locale: str) -> Faker:
    """One Faker per locale; all share Faker's seeded random, so a run is reproducible."""
    if locale not in _FAKERS:
        _FAKERS[locale] = Faker(locale)
    return _FAKERS[locale]


def ascii_fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L").replace("ø", "o"))
    return "".join(c for c in folded if c.isascii() and (c.isalnum() or c in ".-_"))


def mod97_ok(iban: str) -> bool:
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


@dataclass
class Persona:
    first: str
    last: str
    email: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass
class Values:
    """Everything a template can ask for, bound to one document's locale and generators."""

    locale: str
    fake: Faker
    rng: random.Random
    personas: dict[int, Persona] = field(default_factory=dict)

    def persona(self, index: int) -> Persona:
        if index not in self.personas:
            first, last = self.fake.first_name(), self.fake.last_name()
            domain = self.rng.choice(EMAIL_DOMAINS + [self.fake.domain_name()] * 3)
            f, la = ascii_fold(first).lower(), ascii_fold(last).lower()
            local = self.rng.choice([f"{f}.{la}", f"{f[:1]}{la}", f"{f}_{la}", f"{f}{self.rng.randrange(1, 99)}",
                                     f"{la}.{f}", f"{f}.{la}{self.rng.randrange(60, 99)}"])
            self.personas[index] = Persona(first, last, f"{local}@{domain}")
        return self.personas[index]

    def fill(self, placeholder: str) -> Item:
        if placeholder.startswith("n_"):
            return negatives.negative(self.rng, self.fake, placeholder[2:])
        if placeholder.startswith("s_"):
            return secrets.secret_named(self.rng, placeholder[2:])
        base = placeholder.rstrip("0123456789")
        index = int(placeholder[len(base):] or 1)
        if base in ("name", "first", "last", "email", "email_obf", "email_user"):
            return self._person_item(base, self.persona(index))
        if hasattr(self, "v_" + base):
            item: Item = getattr(self, "v_" + base)()
            return item
        if base in secrets.FAMILIES:
            return secrets.secret(self.rng, base)
        raise KeyError(placeholder)

    def _person_item(self, base: str, p: Persona) -> Item:
        if base == "name":
            return Item(p.name, "pii.name", "full")
        if base == "first":
            return Item(p.first, "pii.name", "first")
        if base == "last":
            return Item(p.last, "pii.name", "last")
        if base == "email_user":
            return Item(p.email.split("@")[0], None)
        if base == "email":
            return Item(p.email, "pii.email", "plain")
        return self._obfuscated_email(p.email)

    def _obfuscated_email(self, email: str) -> Item:
        local, domain = email.split("@")
        host, _, tld = domain.rpartition(".")
        style = self.rng.randrange(7)
        if style == 0:
            text = f"{local.replace('.', ' dot ')} at {host.replace('.', ' dot ')} dot {tld}"
        elif style == 1:
            text = f"{local} [at] {host} [dot] {tld}"
        elif style == 2:
            text = f"{local}(at){domain}"
        elif style == 3:
            text = f"{local} AT {host} DOT {tld}"
        elif style == 4:
            text = f"{local}＠{domain}"
        elif style == 5:
            cut = self.rng.randrange(1, len(local))
            text = f"{local[:cut]}{ZWSP}{local[cut:]}@{domain}"
        else:
            text = f"{local} @ {domain}"
        return Item(text, "pii.email", "obfuscated")

    # --- phones -------------------------------------------------------------------------------------------
    def _raw_phone(self) -> str:
        if self.locale == "et_EE":
            r = self.rng
            return r.choice([f"+372 5{r.randrange(100, 999)} {r.randrange(1000, 9999)}",
                             f"5{r.randrange(100, 999)} {r.randrange(1000, 9999)}",
                             f"6{r.randrange(10, 99)} {r.randrange(1000, 9999)}"])
        return str(self.fake.phone_number())

    def v_phone(self) -> Item:
        text = self._raw_phone()
        kind = "international" if text.startswith(("+", "00")) else "national"
        if "x" in text or "ext" in text:
            kind = "extension"
        return Item(text, "pii.phone", kind)

    def v_phone_intl(self) -> Item:
        raw = self._raw_phone()
        try:
            parsed = phonenumbers.parse(raw, REGION.get(self.locale, "US"))
            style = self.rng.choice([phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                                     phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164])
            text = phonenumbers.format_number(parsed, style)
        except phonenumbers.NumberParseException:
            text = raw
        return Item(text, "pii.phone", "international" if text.startswith("+") else "national")

    def v_phone_ext(self) -> Item:
        base = self._raw_phone().split("x")[0]
        ext = self.rng.choice([" ext. ", " ext ", " x", " x.", "-", " Durchwahl "]) if self.locale.startswith(
            "de") else self.rng.choice([" ext. ", " ext ", " x", " extension "])
        return Item(f"{base}{ext}{self.rng.randrange(10, 9999)}", "pii.phone", "extension")

    # --- addresses ----------------------------------------------------------------------------------------
    def _et_street(self) -> str:
        return f"{self.rng.choice(ET_STREETS)} {self.rng.choice(ET_SUFFIX)} {self.rng.randrange(1, 120)}"

    def _et_city_line(self) -> str:
        city, prefix = self.rng.choice(ET_CITIES)
        return f"{prefix}{self.rng.randrange(100, 999)} {city}"

    def v_street(self) -> Item:
        text = self._et_street() if self.locale == "et_EE" else str(self.fake.street_address()).strip()
        return Item(text, "pii.address", "street")

    def v_address_line(self) -> Item:
        if self.locale == "et_EE":
            text = f"{self._et_street()}, {self._et_city_line()}"
        else:
            text = ", ".join(part.strip() for part in str(self.fake.address()).split("\n"))
        return Item(text, "pii.address", "one_line")

    def v_address_block(self) -> Item:
        if self.locale == "et_EE":
            lines = [self._et_street(), self._et_city_line()]
        else:
            lines = [part.strip() for part in str(self.fake.address()).split("\n")]
        if self.rng.random() < 0.35:
            lines.append(str(self.fake.current_country()))
        return Item("\n".join(lines), "pii.address", "block")

    def v_po_box(self) -> Item:
        r, lang = self.rng, self.locale[:2]
        number, postcode, city = r.randrange(10, 99999), str(self.fake.postcode()), str(self.fake.city())
        text = {
            "de": f"Postfach {number}, {postcode} {city}", "fr": f"BP {number}, {postcode} {city}",
            "es": f"Apartado de Correos {number}, {postcode} {city}", "it": f"Casella Postale {number}, {postcode} {city}",
            "nl": f"Postbus {number}, {postcode} {city}", "pl": f"Skrytka pocztowa {number}, {postcode} {city}",
            "pt": f"Apartado {number}, {postcode} {city}", "sv": f"Box {number}, {postcode} {city}",
        }.get(lang, f"{r.choice(['P.O. Box', 'PO Box', 'POB'])} {number}, {city} {postcode}")
        return Item(text, "pii.address", "po_box")

    def v_city(self) -> Item:
        return Item(str(self.fake.city()))

    def v_company(self) -> Item:
        return Item(str(self.fake.company()))

    # --- financial and identifiers ------------------------------------------------------------------------
    def v_card(self) -> Item:
        brand = self.rng.choice(CARD_BRANDS)
        digits = str(faker_for("en_US").credit_card_number(brand))
        style = self.rng.random()
        if (len(digits) == 15 and brand == "amex") or len(digits) == 14:
            groups = [digits[:4], digits[4:10], digits[10:]]
        else:
            groups = [digits[i:i + 4] for i in range(0, len(digits), 4)]
        if style < 0.3:
            text, kind = digits, "compact"
        elif style < 0.6:
            text, kind = " ".join(groups), "spaced"
        elif style < 0.78:
            text, kind = "-".join(groups), "dashed"
        elif style < 0.86:
            text, kind = ".".join(groups), "dotted"
        elif style < 0.92:
            text, kind = "".join(g + self.rng.choice([" ", "-", "."]) for g in groups)[:-1], "mixed"
        elif style < 0.96:
            text, kind = " ".join(groups).translate(FULLWIDTH), "fullwidth"
        else:
            cut = self.rng.randrange(4, len(digits) - 4)
            text, kind = digits[:cut] + ZWSP + digits[cut:], "zero_width"
        return Item(text, "pci.card_number", f"{brand}.{kind}")

    def v_iban(self) -> Item:
        for _ in range(20):
            iban = str(faker_for(self.rng.choice(IBAN_LOCALES)).iban()) if self.rng.random() < 0.5 else str(self.fake.iban())
            if mod97_ok(iban):
                break
        style = self.rng.random()
        grouped = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
        if style < 0.45:
            return Item(iban, "fin.iban", "compact")
        if style < 0.85:
            return Item(grouped, "fin.iban", "grouped")
        if style < 0.93:
            return Item(grouped.lower() if self.rng.random() < 0.5 else iban.lower(), "fin.iban", "lowercase")
        return Item(grouped.replace(" ", "-"), "fin.iban", "dashed")

    def v_ip(self) -> Item:
        r = self.rng.random()
        if r < 0.55:
            return Item(str(self.fake.ipv4_public()), "net.ip_address", "ipv4")
        if r < 0.75:
            return Item(str(self.fake.ipv4_private()), "net.ip_address", "ipv4_private")
        return Item(str(self.fake.ipv6()), "net.ip_address", "ipv6")

    def v_ssn(self) -> Item:
        ssn = str(faker_for("en_US").ssn()) if self.rng.random() < 0.85 else (
            f"{self.rng.randrange(900, 1000)}-{self.rng.randrange(10, 100)}-{self.rng.randrange(1000, 10000)}")
        kind = "valid_area" if not ssn.startswith("9") else "unissued_area"
        style = self.rng.random()
        if style < 0.15:
            ssn = ssn.replace("-", " ")
        elif style < 0.25:
            ssn = ssn.replace("-", "")
        return Item(ssn, "pii.national_id", f"us_ssn.{kind}")

    def v_dob(self) -> Item:
        d = self.fake.date_between(start_date=date(1936, 1, 1), end_date=date(2007, 12, 31))
        lang = self.locale[:2]
        if self.locale == "en_US":
            text = self.rng.choice([d.strftime("%m/%d/%Y"), d.strftime("%B %d, %Y").replace(" 0", " "), d.isoformat()])
        elif lang == "en":
            text = self.rng.choice([d.strftime("%d/%m/%Y"), f"{d.day} {d.strftime('%B %Y')}", d.isoformat()])
        elif lang in ("de", "pl", "da", "no", "et", "ro", "hr", "sl", "fi", "cs", "sk"):
            text = self.rng.choice([d.strftime("%d.%m.%Y"), f"{d.day}.{d.month}.{d.year}"])
        elif lang in ("sv", "hu"):
            text = d.isoformat() if lang == "sv" else d.strftime("%Y.%m.%d.")
        elif lang == "nl":
            text = d.strftime("%d-%m-%Y")
        else:
            text = d.strftime("%d/%m/%Y")
        return Item(text, "pii.date_of_birth", "labelled")

    def v_password(self) -> Item:
        return Item(secrets.password(self.rng), "secret.password", "password")

    def v_jwt(self) -> Item:
        return Item(secrets.jwt(self.rng), "secret.token", "jwt")

    def v_pem(self) -> Item:
        return Item(secrets.pem(self.rng), "secret.private_key", "pem")

    def v_pem_json(self) -> Item:
        # The escaped newline after the END line belongs to the JSON string, not to the key: the template has it.
        return Item(secrets.pem(self.rng).replace("\n", "\\n"), "secret.private_key", "pem_escaped")

    def v_pem_body(self) -> Item:
        _, body = secrets.pem_body(self.rng)
        return Item("\n".join(body.split("\n")[:5]), "secret.private_key", "pem_body_no_header")

    def v_secret_zw(self) -> Item:
        item = secrets.secret(self.rng, self.rng.choice(["vcs", "llm", "cloud"]))
        cut = self.rng.randrange(5, len(item.text) - 3)
        return Item(item.text[:cut] + ZWSP + item.text[cut:], item.cls, item.kind + ".zero_width")

    def v_aws_lower(self) -> Item:
        return Item(secrets.aws_key_id(self.rng).lower(), "secret.api_key", "cloud.aws_key_id.lowercase")

    def v_user(self) -> Item:
        return Item(ascii_fold(self.fake.user_name()).lower() or "svc")

    def v_host(self) -> Item:
        return Item(self.rng.choice(["db", "pg", "mysql", "cache", "api", "auth"]) + "-"
                    + self.rng.choice(["prod", "staging", "eu1", "us2", "int"]) + "." + self.rng.choice(
                        ["internal", "corp.local", "svc.cluster.local", "example.net"]))

    def v_int(self) -> Item:
        return Item(str(self.rng.randrange(2, 60)))
