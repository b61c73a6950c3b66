from __future__ import annotations

import base64
import json

import pytest

from interlock.detect import CustomPattern, DetectionConfig, Detector
from interlock.redact import ALL_CLASSES, ActionPolicy, PlaceholderMap, StreamingRedactor, StreamingRestorer, redact

_EC_DER = base64.b64encode(b"\x30\x77\x02\x01\x01\x04\x20" + bytes(range(7, 121))).decode("ascii")
HEADERLESS_KEY = "\n".join(_EC_DER[i:i + 64] for i in range(0, len(_EC_DER), 64))
PEM = "-----BEGIN PRIVATE KEY-----\n" + "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n" * 30 + "-----END PRIVATE KEY-----"


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DetectionConfig())


def stream(detector: Detector, text: str, size: int, mapping: PlaceholderMap) -> tuple[str, list[str]]:
    r = StreamingRedactor(detector, ActionPolicy(), mapping)
    pieces = [r.feed(text[i:i + size]) for i in range(0, len(text), size)]
    pieces.append(r.flush())
    return "".join(pieces), pieces


@pytest.mark.parametrize("size", [1, 3, 7, 64, 1000])
def test_stream_equals_whole_text(detector: Detector, size: int) -> None:
    text = ("Hello, contact jane.doe@example.com or +1 202 555 0147. " * 20
            + "card 4111 1111 1111 1111 and key AKIAIOSFODNN7EXAMPLE\n" + PEM + "\nthanks " * 200)
    whole = redact(text, detector.scan(text), ActionPolicy(), PlaceholderMap("a")).text
    streamed, _pieces = stream(detector, text, size, PlaceholderMap("b"))
    assert streamed == whole


def test_no_piece_carries_part_of_a_secret(detector: Detector) -> None:
    text = "x " * 400 + PEM + " y" * 400
    _, pieces = stream(detector, text, 5, PlaceholderMap("a"))
    for piece in pieces:
        assert "MIIEvQ" not in piece
        assert "-----BEGIN" not in piece


def test_hold_back_is_bounded(detector: Detector) -> None:
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("a"))
    emitted = sum(len(r.feed("word ")) for _ in range(2000))
    assert emitted >= 2000 * 5 - r.hold_back


@pytest.mark.parametrize("size", [1, 2, 5, 13])
def test_restorer_handles_split_placeholders(size: int) -> None:
    mapping = PlaceholderMap("a")
    p1 = mapping.placeholder_for("pii.email", "a@example.com")
    p2 = mapping.placeholder_for("pci.card_number", "4111111111111111")
    text = f"write to {p1} [not a placeholder] pay with {p2} [EMAIL_9] end ["
    r = StreamingRestorer(mapping, {"pii.email"})
    out = "".join(r.feed(text[i:i + size]) for i in range(0, len(text), size)) + r.flush()
    assert out == f"write to a@example.com [not a placeholder] pay with {p2} [EMAIL_9] end ["


def test_restorer_all_classes() -> None:
    mapping = PlaceholderMap("a")
    p = mapping.placeholder_for("pii.phone", "+1 202 555 0147")
    r = StreamingRestorer(mapping, ALL_CLASSES)
    assert r.feed(p[:3]) == ""
    assert r.feed(p[3:] + " ok") == "+1 202 555 0147 ok"


PROSE = ("The quarterly review went well overall. Our team shipped the new search feature, fixed most of the "
         "reported bugs and started planning the migration of the reporting service. Next week we will focus "
         "on documentation, onboarding material for new colleagues and a short retrospective about the sprint.")


def test_prose_hold_back_is_short(detector: Detector) -> None:
    text = PROSE[:300]
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("a"))
    emitted = sum(len(r.feed(text[i:i + 4])) for i in range(0, len(text), 4))
    assert r.hold_back < 100
    assert r.pending == len(text) - emitted
    longest_word = max(len(w) for w in text.split())
    assert emitted >= len(text) - r.hold_back - longest_word - 1
    assert emitted + len(r.flush()) == len(text)


def test_first_output_arrives_early(detector: Detector) -> None:
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("a"))
    fed = 0
    for i in range(0, len(PROSE), 4):
        fed += len(PROSE[i:i + 4])
        if r.feed(PROSE[i:i + 4]):
            break
    assert fed <= r.hold_back + 16


def _jwt() -> str:
    def segment(obj: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    return f"{segment({'alg': 'HS256', 'typ': 'JWT'})}.{segment({'sub': '1234567890'})}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"


# One sample per recognizer family, with the text around it that makes it a finding.
SAMPLES = {
    "database url": "postgres://admin:S3cr3tPa55@db.internal.example:5432/orders",
    "key=value connection string": "Server=tcp:sql.example.net,1433;Database=shop;User Id=app;Password=Hx9!kq2Lr0;Encrypt=true",
    "connection string with spaces": ("Data Source=sql01.example.net; Initial Catalog=shop orders; "
                                      "Application Name=nightly reporting dashboard; Connect Timeout=30; "
                                      "User ID=app user; Password=Hx9 kq2 Lr0 very secret; Encrypt=true"),
    "private key": "-----BEGIN RSA PRIVATE KEY-----\n" + "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n" * 4
    + "-----END RSA PRIVATE KEY-----",
    "jwt": _jwt(),
    "url credentials": "https://deploy:t0ken-9xQz@git.example.org/repo.git",
    "password": 'password = "Tr0ub4dor&3xK"',
    "password in prose": "the password is Tr0ub4dor&3xK",
    "high-entropy secret": "api_key: 8fJ2kL9qX4mN7pR1sT6vW3yZ0aB5cD",
    "bearer token": "Authorization: Bearer 8fJ2kL9qX4mN7pR1sT6vW3yZ0aB5cD",
    "us address": "1600 Pennsylvania Avenue NW, Washington, DC 20500",
    "continental address": "Hauptstraße 5, 10115 Berlin",
    "french address": "12 rue de la Paix, 75002 Paris",
    "po box": "P.O. Box 4521",
    "email": "jane.doe@example.com",
    "spelled-out email": "jane dot doe at example dot com",
    "bracketed email": "jane [at] example [dot] co [dot] uk",
    "email with spaced at": "jane.doe @ example.com",
    "email with a spelled at": "jane.doe at gmail.com",
    "plain word at a mail provider": "jane at gmail.com",
    "city before a state and zip": "Springfield, IL 62704",
    "street name before its number": "bydlím Dlouhá 730/12, 110 00 Praha 1",
    "numbered street": "No. 12 rue de la Paix, 75002 Paris",
    "name from the dictionary": "Agnieszka Wójcik",
    "github token": "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
    "aws secret key": "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "phone": "+1 202 555 0147",
    "card with spaces": "4111 1111 1111 1111",
    "private key body without header": HEADERLESS_KEY,
    "fullwidth card": "４１１１ １１１１ １１１１ １１１１",
    "card with invisible characters": "4111\u200b1111 1111\u00ad 1111",
    "iban with spaces": "GB82 WEST 1234 5698 7654 32",
    "name": "Dear Margaret Thatcher,",
    "custom pattern with opener": "TKT " + "A7Q2 " * 30 + "END",
}
CUSTOM = CustomPattern("custom.ticket", r"\bTKT(?: [A-Z0-9]{4}){3,40} END\b", openers=("TKT ",))


@pytest.fixture(scope="module")
def custom_detector() -> Detector:
    return Detector(DetectionConfig(custom_patterns=(CUSTOM,)))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_no_prefix_of_a_finding_leaves_early(custom_detector: Detector, name: str) -> None:
    text = f"{PROSE} Here it is: {SAMPLES[name]} and that is all for now, thanks."
    findings = custom_detector.scan(text)
    assert len(findings) == 1, findings
    start, end = findings[0].start, findings[0].end
    value = text[start:end]
    whole = redact(text, findings, ActionPolicy(), PlaceholderMap("a")).text

    # Fed one character at a time: nothing from the value's start on leaves before the value is complete.
    r = StreamingRedactor(custom_detector, ActionPolicy(), PlaceholderMap("b"))
    out = ""
    for i, ch in enumerate(text):
        out += r.feed(ch)
        if i < end - 1:
            assert len(out) <= start, (i, out[start:])
    assert out + r.flush() == whole
    assert len(out) > len(PROSE) // 2  # the prose before it was not held back

    # Split in two at every position inside the value: the first part never shows any of it.
    for split in range(start + 1, end):
        r = StreamingRedactor(custom_detector, ActionPolicy(), PlaceholderMap("c"))
        first = r.feed(text[:split])
        assert len(first) <= start
        assert value[:4] not in first
        assert first + r.feed(text[split:]) + r.flush() == whole


def test_pending_counts_held_characters(detector: Detector) -> None:
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("a"))
    out = r.feed(PROSE)
    assert r.pending == len(PROSE) - len(out) > 0
    r.flush()
    assert r.pending == 0


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_every_recognizer_positive_streams_as_whole(detector: Detector, size: int) -> None:
    """The short hold relies on what each recognizer declares (digits, openers, pending openers): every
    positive case of every recognizer, split at every chunk size, must come out as the whole-text scan."""
    from detect.test_recognizers import POSITIVES

    for _, sample, _ in POSITIVES:
        text = "Here is what the customer wrote to us this morning. " + sample + " and more ordinary words follow here."
        whole = redact(text, detector.scan(text, backward=False), ActionPolicy(), PlaceholderMap("a")).text
        streamed, _ = stream(detector, text, size, PlaceholderMap("b"))
        assert streamed == whole, sample


def test_first_output_of_prose_arrives_within_a_few_words(detector: Detector) -> None:
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("a"))
    fed = 0
    for word in PROSE.split(" "):
        fed += len(word) + 1
        if r.feed(word + " "):
            break
    assert fed <= detector.hold.blanket + 2 * max(len(w) for w in PROSE.split()) + 2


def test_a_repeated_name_keeps_the_plain_hold(detector: Detector) -> None:
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("a"))
    out = r.feed("Dear Jane Smith,\n" + "word " * 40)
    out += r.feed("and later Jane Sm")
    # "Jane Smith" was redacted once; its next mention may come with no trigger, so "Jane" is held.
    assert "Jane" not in out
    out += r.feed("ith again.") + r.flush()
    assert "Jane" not in out


def test_prose_fed_a_word_at_a_time_comes_out_a_word_at_a_time(detector: Detector) -> None:
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("a"))
    words = PROSE.split(" ")
    out = [r.feed(w + " ") for w in words]
    # Each word leaves as soon as the next word begins (a word followed only by a space may be an e-mail
    # address's local part, "jane at gmail.com"); the space waits for the word after it.
    for i in range(len(words)):
        so_far = "".join(out[:i + 1])
        assert so_far.startswith(" ".join(words[:i])), (i, so_far)
        assert (" ".join(words[:i + 1]) + " ").startswith(so_far), (i, so_far)
    assert "".join(out) + r.flush() == PROSE + " "
    # As a model streams, with the space before each word: each word leaves as the next one arrives.
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("a"))
    out = [r.feed((" " if i else "") + w) for i, w in enumerate(words)]
    # ... unless the next word may be the start of a spelled at ("a", "at"): then it waits one word more.
    for i in range(1, len(words)):
        so_far = "".join(out[:i + 1])
        done = i - 1 if words[i] in ("a", "at") else i
        assert so_far.startswith(" ".join(words[:done])), (i, so_far)
        assert " ".join(words[:i]).startswith(so_far), (i, so_far)
    assert out[:4] == ["", "The", " quarterly", " review"]
    assert "".join(out) + r.flush() == PROSE


def test_released_text_ends_at_a_word_boundary(detector: Detector) -> None:
    text = ("the order count rose to 1234 units this week and the refund for September was 56 dollars in total, "
            "which we will send on Monday with a note about the 2 late parcels and nothing else to report here")
    assert not detector.scan(text)
    for size in (1, 3, 7):
        r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("a"))
        out = ""
        for i in range(0, len(text), size):
            out += r.feed(text[i:i + size])
            assert text.startswith(out)
            assert not out or text[len(out) - 1] == " " or text[len(out)] == " ", (size, out)
        assert out + r.flush() == text


def test_an_email_address_holds_back_only_the_name_it_spells(detector: Detector) -> None:
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("a"))
    head = "Write to jane.doe@example.com about it. " + "then we can help you with that " * 4
    out = r.feed(head)
    # The address went out redacted once its right context had arrived, and the prose after it too.
    assert "[EMAIL_1]" in out
    # All but the last word, which may be an e-mail address's local part until the next word begins.
    assert out.endswith("with ")
    out += r.feed("and later Jane ")
    # "Jane" may begin "Jane Doe", which the address spells: held; the words before it are not.
    assert out.endswith("and later ")
    out += r.feed("Doe will call. ") + r.flush()
    assert "Jane" not in out
    assert out.endswith("and later [NAME_1] will call. ")


def test_an_email_address_leaves_once_the_word_after_it_has_arrived(detector: Detector) -> None:
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("a"))
    out = r.feed("write to dana.whitfield@example.com ")
    assert out == "write to "
    # Words after an address can only confirm it (it has no counter-context): it is final once the
    # next word has arrived, not after a whole context window.
    out += r.feed("and ")
    # "and" itself waits for the next word to begin (it may be a local part, "and at gmail.com").
    assert out == "write to [EMAIL_1] "
    out += r.feed("c")
    assert out == "write to [EMAIL_1] and"
    # A card number's right context may still change how it is scored, so text waits for it.
    out += r.feed("card 4111 1111 1111 1111 then ")
    assert "[CARD_1]" not in out
    assert "4111" not in out


@pytest.mark.parametrize("size", [1, 4, 9])
def test_a_value_emitted_early_still_repeats_in_the_same_chunk(detector: Detector, size: int) -> None:
    # A name has no context words, so it is final a few characters after it ends, well before a whole
    # context window: its next mention, already in the buffer, must be redacted in the same release.
    text = "Dear Jane Smith, with you today Jane Smith said so and we can help you with the rest of it now"
    whole = redact(text, detector.scan(text), ActionPolicy(), PlaceholderMap("a")).text
    assert whole.count("[NAME_1]") == 2
    streamed, _ = stream(detector, text, size, PlaceholderMap("b"))
    assert streamed == whole
