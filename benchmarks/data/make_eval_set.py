"""Builds eval.jsonl: labelled texts across every data class, with hard negatives.

Deterministic (fixed seed): re-running it reproduces the file byte for byte.
Each line: {"id": str, "text": str, "spans": [{"start": int, "end": int, "class": str}]}.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 20240611
OUT = Path(__file__).with_name("eval.jsonl")

FIRST = ["Jane", "Oliver", "Priya", "Mateo", "Chen", "Amara", "Lukas", "Sofia", "Kwame", "Hannah", "Diego",
         "Yuki", "Fatima", "Noah", "Elena", "Ravi"]
LAST = ["Doe", "Bennett", "Raman", "Garcia", "Wei", "Okafor", "Schmidt", "Rossi", "Mensah", "Clarke",
        "Fernandez", "Tanaka", "Haddad", "Miller", "Petrova", "Shah"]
STREETS = ["Baker Street", "Evergreen Terrace", "Maple Avenue", "Oak Lane", "Sunset Boulevard", "High Street",
           "Elm Road", "Pine Court"]
CITIES = ["Springfield", "London", "Portland", "Denver", "Leeds", "Austin"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net"]
CARDS = ["4111 1111 1111 1111", "5555 5555 5555 4444", "4012888888881881", "378282246310005",
         "6011 1111 1111 1117", "3530-1113-3330-0000", "5105105105105100"]
IBANS = ["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32", "FR1420041010050500013M02606",
         "NL91ABNA0417164300", "ES9121000418450200051332"]
PHONES = ["+1 202 555 0147", "(415) 555-0198", "+44 20 7946 0958", "020 7946 0958", "+49 30 901820",
          "212-555-0176"]
SSNS = ["536-22-1234", "219-44-5678", "402-11-7788", "123-45-6780"]
NINOS = ["AB123456C", "JG 10 37 25 A", "CE 12 34 56 D"]
IPV4 = ["192.168.10.24", "10.0.4.17", "172.16.254.3", "203.0.113.9"]
IPV6 = ["2001:db8:85a3::8a2e:370:7334", "fe80::1ff:fe23:4567:890a"]
MACS = ["00:1A:2B:3C:4D:5E", "3C-22-FB-9A-01-7E"]
ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def rand_str(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def secrets(rng: random.Random) -> list[tuple[str, str, str]]:
    """(template with {v}, value, class)."""
    return [
        ("AWS_ACCESS_KEY_ID={v}", "AKIA" + rand_str(rng, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), "secret.api_key"),
        ("export GITHUB_TOKEN={v}", "ghp_" + rand_str(rng, 36), "secret.token"),
        ("gitlab token {v} expires soon", "glpat-" + rand_str(rng, 20), "secret.token"),
        ("SLACK_BOT_TOKEN={v}", f"xoxb-{rng.randint(10**11, 10**12)}-{rng.randint(10**12, 10**13)}-"
         + rand_str(rng, 24), "secret.token"),
        ("stripe.api_key = '{v}'", "sk_live_" + rand_str(rng, 24), "secret.api_key"),
        ("GOOGLE_API_KEY={v}", "AIza" + rand_str(rng, 35), "secret.api_key"),
        ("OPENAI_API_KEY={v}", "sk-proj-" + rand_str(rng, 48), "secret.api_key"),
        ("ANTHROPIC_API_KEY={v}", "sk-ant-api03-" + rand_str(rng, 93), "secret.api_key"),
        ("sendgrid key {v}", "SG." + rand_str(rng, 22) + "." + rand_str(rng, 43), "secret.api_key"),
        ("twilio api key {v}", "SK" + rand_str(rng, 32, "0123456789abcdef"), "secret.api_key"),
        ("DATABASE_URL={v}", f"postgres://app:{rand_str(rng, 12)}@db.internal:5432/main", "secret.connection_string"),
        ("mongo uri: {v}", f"mongodb+srv://svc:{rand_str(rng, 14)}@cluster0.example.net/prod",
         "secret.connection_string"),
        ("db_password: {v}", rand_str(rng, 14), "secret.password"),
        ("session_token = \"{v}\"", rand_str(rng, 32), "secret.token"),
        ("Authorization: Bearer {v}", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI" + rand_str(rng, 20) + "In0."
         + rand_str(rng, 43), "secret.token"),
    ]


def pii_cases(rng: random.Random) -> list[tuple[str, list[tuple[str, str]]]]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    name = f"{first} {last}"
    email = f"{first.lower()}.{last.lower()}@{rng.choice(DOMAINS)}"
    addr = f"{rng.randint(1, 9999)} {rng.choice(STREETS)}, {rng.choice(CITIES)}"
    age = str(rng.randint(18, 95))
    dob = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(1940, 2005)}"
    return [
        ("Hello, my name is {0} and you can email me at {1}.", [(name, "pii.name"), (email, "pii.email")]),
        ("Please call {0} on {1} about the claim.", [(f"Dr. {name}"[4:], "pii.name"), (rng.choice(PHONES), "pii.phone")]),
        ("Customer address: {0}. Phone: {1}", [(addr, "pii.address"), (rng.choice(PHONES), "pii.phone")]),
        ("The patient is {0} years old, date of birth {1}.", [(age, "pii.age"), (dob, "pii.date_of_birth")]),
        ("Charge the card {0} for the renewal.", [(rng.choice(CARDS), "pci.card_number")]),
        ("Wire the refund to IBAN {0} today.", [(rng.choice(IBANS), "fin.iban")]),
        ("My SSN is {0}, please update the file.", [(rng.choice(SSNS), "pii.national_id")]),
        ("National insurance number: {0}", [(rng.choice(NINOS), "pii.national_id")]),
        ("Failed login from {0} at 03:12.", [(rng.choice(IPV4), "net.ip_address")]),
        ("Host {0} answered the ping.", [(rng.choice(IPV6), "net.ip_address")]),
        ("Device MAC address {0} was blocked.", [(rng.choice(MACS), "net.mac_address")]),
        ("Thanks for the quick fix!\n\nKind regards,\n{0}\n", [(name, "pii.name")]),
        ("Routing number {0}, account number {1}.",
         [("021000021", "fin.bank_account"), (str(rng.randint(10**9, 10**11)), "fin.bank_account")]),
        ("Clone it with https://{0}/repo.git", [(f"deploy:{rand_str(rng, 10)}@git.example.com", "secret.url_credentials")]),
    ]


NEGATIVES = [
    "Upgrade the agent to version 1.2.3.4 before Friday.",
    "Order number 4111 1111 1111 1112 shipped on 2024-03-01.",
    "ISBN 978-3-16-148410-0 is out of print.",
    "The build at commit 3f786850e387550fdab836ed7e6dc881de23001b passed.",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 matches.",
    "The meeting moved to 12:30:45 on 04/07/2024.",
    "We sold 123456789 units last year.",
    "Set password: ******** in the form, see docs.",
    "password = os.environ['DB_PASS']",
    "Use ${API_TOKEN} from the environment.",
    "The tower is 300 metres tall and 120 years in service.",
    "Dear Customer, thanks for your order.",
    "Best regards,\nThe Support Team\n",
    "Release v10.0.0.1 fixes the parser.",
    "Timestamp 1700000000000 was logged.",
    "Call the function getAccessTokenFromRequest() first.",
    "Ticket INC-2024-000123 is resolved.",
    "The invoice total is 1,234,567.89 EUR.",
    "std::vector<int> values; values.push_back(3);",
    "See section 4.2.1.3 of the specification.",
    "Tracking code 1Z999AA10123456784 was delivered.",
    "The UUID 123e4567-e89b-12d3-a456-426614174000 identifies the job.",
    "Our office opens at 9 and closes at 17.",
    "Room 221 is on the second floor of building B.",
]

FILLER = ["Could you check this for me?", "Thanks in advance.", "The report is attached.", "Let me know.",
          "We discussed this yesterday.", "It worked on staging.", "Here are the details:"]


def build() -> list[dict[str, object]]:
    rng = random.Random(SEED)
    rows: list[dict[str, object]] = []

    def add(template: str, values: list[tuple[str, str]]) -> None:
        text, spans = "", []
        pieces = template.split("{")
        text = pieces[0]
        for piece in pieces[1:]:
            index_str, rest = piece.split("}", 1)
            value, cls = values[int(index_str or 0)]
            spans.append({"start": len(text), "end": len(text) + len(value), "class": cls})
            text += value + rest
        prefix = rng.choice(FILLER) + " "
        spans = [{**s, "start": s["start"] + len(prefix), "end": s["end"] + len(prefix)} for s in spans]
        rows.append({"id": f"c{len(rows):04d}", "text": prefix + text, "spans": spans})

    for _ in range(30):
        for template, values in pii_cases(rng):
            add(template, values)
        for template, value, cls in secrets(rng):
            add(template.replace("{v}", "{0}"), [(value, cls)])
    for _ in range(6):
        for negative in NEGATIVES:
            add(negative.replace("{", "(").replace("}", ")"), [])
    pem = ("-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(rand_str(rng, 64, ALNUM + "+/") for _ in range(6))
           + "\n-----END RSA PRIVATE KEY-----")
    for _ in range(10):
        add("Here is the key:\n{0}\nDo not share it.", [(pem, "secret.private_key")])
    rng.shuffle(rows)
    return rows


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} cases to {OUT}")


if __name__ == "__main__":
    main()
