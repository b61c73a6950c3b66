"""Hard negatives: values that look like sensitive data to a careless pattern and must stay in the text."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime

from benchmarks.evalsets.doc import Item
from faker import Faker

# Fixed bounds, not "now": the sets must not change with the day they are generated.
PRODUCTS = ["iPhone 15 Pro Max", "Galaxy S24 Ultra", "ThinkPad X1 Carbon Gen 11", "Pixel 8a", "MacBook Air M3",
            "Surface Laptop 6", "PlayStation 5 Slim", "Model Y Long Range", "Dyson V15 Detect", "Kindle Paperwhite 5",
            "XPS 13 9340", "Sonos Era 300", "Garmin Forerunner 965", "Bosch Serie 6 WAW28440", "Miele G 7310 SC",
            "EcoTank ET-2850", "RTX 4070 Ti Super", "Nintendo Switch OLED", "AirPods Pro 2", "Fairphone 5"]


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def non_luhn_16(rng: random.Random, fake: Faker) -> str:
    while True:
        digits = str(rng.choice([4, 5, 6, 3, 1, 7, 8])) + "".join(str(rng.randrange(10)) for _ in range(15))
        if not _luhn_ok(digits):
            break
    return rng.choice([digits, " ".join(digits[i:i + 4] for i in range(0, 16, 4))])


def _order_id(rng: random.Random, fake: Faker) -> str:
    return rng.choice([f"ORD-{rng.randrange(2019, 2026)}-{rng.randrange(0, 999999):06d}",
                       f"#{rng.randrange(100000, 9999999)}", f"A{rng.randrange(10**7, 10**8)}",
                       f"PO-{rng.randrange(1000, 99999)}", f"{rng.randrange(100, 999)}-{rng.randrange(10**6, 10**7)}-"
                       f"{rng.randrange(10**6, 10**7)}"])


def _version(rng: random.Random, fake: Faker) -> str:
    v = f"{rng.randrange(0, 25)}.{rng.randrange(0, 40)}.{rng.randrange(0, 30)}"
    return rng.choice([v, "v" + v, v + f"-rc.{rng.randrange(1, 5)}", f"{v}.{rng.randrange(1000, 9999)}"])


def _timestamp(rng: random.Random, fake: Faker) -> str:
    dt = fake.date_time_between(start_date=datetime(2023, 1, 1), end_date=datetime(2026, 6, 30))
    return rng.choice([dt.strftime("%Y-%m-%dT%H:%M:%SZ"), dt.strftime("%Y-%m-%d %H:%M:%S"),
                       str(int(dt.timestamp())), str(int(dt.timestamp() * 1000)), dt.strftime("%d/%b/%Y:%H:%M:%S +0000")])


def _amount(rng: random.Random, fake: Faker) -> str:
    value = rng.randrange(100, 2_000_000) / 100
    return rng.choice([f"${value:,.2f}", f"EUR {value:,.2f}", f"{value:,.2f} €".replace(",", " "), f"£{value:,.2f}",
                       f"{value:.2f} USD", f"CHF {value:,.2f}".replace(",", "'")])


def _postcode(rng: random.Random, fake: Faker) -> str:
    return str(fake.postcode())


def _date(rng: random.Random, fake: Faker) -> str:
    d = fake.date_between(start_date=date(2024, 1, 1), end_date=date(2027, 6, 30))
    return rng.choice([d.isoformat(), d.strftime("%d.%m.%Y"), d.strftime("%B %d").replace(" 0", " ")])


def _isbn(rng: random.Random, fake: Faker) -> str:
    return str(rng.choice([fake.isbn13(), fake.isbn10()]))


def _tracking(rng: random.Random, fake: Faker) -> str:
    return rng.choice(["1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(16)),
                       "".join(str(rng.randrange(10)) for _ in range(22)), f"JD{rng.randrange(10**15, 10**16)}"])


def _ticket(rng: random.Random, fake: Faker) -> str:
    return rng.choice([f"INC{rng.randrange(10**6, 10**7):07d}", f"JIRA-{rng.randrange(100, 9999)}",
                       f"SR-{rng.randrange(10**5, 10**6)}", f"CS{rng.randrange(10**7, 10**8)}"])


NEGATIVES: dict[str, Callable[[random.Random, Faker], str]] = {
    "order_id": _order_id,
    "version": _version,
    "uuid": lambda rng, fake: str(fake.uuid4()),
    "sha1": lambda rng, fake: str(fake.sha1()),
    "sha256": lambda rng, fake: str(fake.sha256()),
    "md5": lambda rng, fake: str(fake.md5()),
    "git_short": lambda rng, fake: str(fake.sha1())[:rng.choice([7, 8, 10])],
    "digest": lambda rng, fake: "sha256:" + str(fake.sha256()),
    "non_luhn_16": non_luhn_16,
    "isbn": _isbn,
    "ean": lambda rng, fake: str(fake.ean13()),
    "timestamp": _timestamp,
    "amount": _amount,
    "postcode": _postcode,
    "product": lambda rng, fake: rng.choice(PRODUCTS),
    "date": _date,
    "tracking": _tracking,
    "ticket": _ticket,
    "port": lambda rng, fake: str(rng.choice([443, 5432, 6379, 8080, 8443, 9092, 27017, 3306])),
    "build": lambda rng, fake: str(rng.randrange(1000, 99999)),
    "sku": lambda rng, fake: f"{rng.choice(['SKU', 'ART', 'REF'])}-{rng.randrange(10000, 999999)}",
    "percent": lambda rng, fake: f"{rng.randrange(0, 1000) / 10}%",
    "duration": lambda rng, fake: f"{rng.randrange(1, 9999)}ms",
    "request_id": lambda rng, fake: "req_" + str(fake.sha1())[:24],
}


def negative(rng: random.Random, fake: Faker, kind: str) -> Item:
    return Item(NEGATIVES[kind](rng, fake), kind=kind, negative=True)
