"""Person names without NER: the name dictionary and the cues, in many locales, against hard negatives."""

from __future__ import annotations

import pytest

from interlock.detect import Detector
from interlock.detect.name_table import COMMON_NAME, FIRST, LAST, WORD, name_table, parse
from interlock.redact import ActionPolicy, PlaceholderMap, StreamingRedactor, redact

POSITIVES: list[tuple[str, str]] = [
    # (text, the name that must be found whole)
    # Full names in running text, no cue word.
    ("I spoke to Anna Kowalski yesterday about the invoice.", "Anna Kowalski"),
    ("Yesterday John Smith called about his order.", "John Smith"),
    ("Please forward this to Łukasz Nowak before Friday.", "Łukasz Nowak"),
    ("The ticket was opened by Ólafur Sigurðsson last week.", "Ólafur Sigurðsson"),
    ("Maria de la Cruz joined the call late.", "Maria de la Cruz"),
    ("Jan van der Berg approved the change.", "Jan van der Berg"),
    ("Ask Antonín Dvořák about the Prague office.", "Antonín Dvořák"),
    ("Seán O'Brien sent the contract.", "Seán O'Brien"),
    ("Our new colleague Emma Smith-Jones starts on Monday.", "Emma Smith-Jones"),
    ("José García López wrote to us again.", "José García López"),
    ("Then Jürgen Müller confirmed the delivery.", "Jürgen Müller"),
    ("I will loop in Fred L. Drake on this one.", "Fred L. Drake"),
    ("Escalated to Marie-Claire Dubois in billing.", "Marie-Claire Dubois"),
    ("The refund for Giulia Bianchi is pending.", "Giulia Bianchi"),
    ("Mark Taylor approved it this morning.", "Mark Taylor"),
    ("Please assign this to Roger Peacock.", "Roger Peacock"),
    ("The form was signed by Banara Mulyani.", "Banara Mulyani"),
    ("Reassign it to Ástmundur Vormsson please.", "Ástmundur Vormsson"),
    # Titles, in several languages.
    ("Please ask Dr. Maria Gonzalez to call", "Maria Gonzalez"),
    ("Mr. Galvani will join the meeting.", "Galvani"),
    ("Frau Schneider hat angerufen.", "Schneider"),
    ("Señora Fernández llamó ayer.", "Fernández"),
    ("Monsieur Lefèvre a appelé.", "Lefèvre"),
    ("Mr. da Rocha will join the meeting.", "da Rocha"),
    ("Pani Wiśniewska czeka na odpowiedź.", "Wiśniewska"),
    ("Ich habe mit Herrn Müller gesprochen.", "Müller"),
    # Greetings and sign-offs.
    ("Dear Tom Hardy,\nyour order", "Tom Hardy"),
    ("Hi Will,\ncan you check this?", "Will"),
    ("Hello Priya, thanks for the quick reply.", "Priya"),
    ("Hola María,\ngracias por tu mensaje.", "María"),
    ("Bonjour Amélie,\nmerci pour votre message.", "Amélie"),
    ("Thanks, Anna", "Anna"),
    ("Cheers, Tom\n", "Tom"),
    ("Cordialement, Marie", "Marie"),
    ("Thanks for your help.\n\nKind regards,\nPriya Raman\n", "Priya Raman"),
    ("Mit freundlichen Grüßen\nKlaus Becker\n", "Klaus Becker"),
    ("Met vriendelijke groet,\nSanne de Vries\n", "Sanne de Vries"),
    ("Pozdrawiam,\nKatarzyna Zielińska\n", "Katarzyna Zielińska"),
    ("Hi Ingetraut,\nthanks for the update.", "Ingetraut"),
    # Labels, forms and structured text.
    ("Customer: Jail Maryadi\nIssue: login fails", "Jail Maryadi"),
    ('{"name": "Nguyễn Thị Mai", "plan": "pro"}', "Nguyễn Thị Mai"),
    ("Nom : Camille Laurent", "Camille Laurent"),
    ("Nombre: Lucía Ramírez", "Lucía Ramírez"),
    ("Patient: Brown, Michael", "Brown, Michael"),
    ("NAME: JOHN SMITH", "JOHN SMITH"),
    ("first_name=Oliver", "Oliver"),
    ("To: Anna <anna@example.com>\nSubject: invoice", "Anna"),
    ("Von: Jürgen\nBetreff: Rechnung", "Jürgen"),
    ("Customer name: MÜLLER, HANS", "MÜLLER, HANS"),
    ("id,first_name,last_name,email\n17,Agnieszka,Wójcik,aw@example.com", "Agnieszka,Wójcik"),
    ('1;"Kowalski";"Anna";"Warszawa"', 'Kowalski";"Anna'),
    ("[10:42] Sofia Rossi: can someone reset my password?", "Sofia Rossi"),
    ("2024-03-01 12:00:01 INFO user=Jonas Weber logged in", "Jonas Weber"),
    ('author = "Björn Lindqvist"', "Björn Lindqvist"),
    ("Buongiorno Sig. Bianchi, la contatteremo.", "Bianchi"),
    # A chat line's speaker.
    ("chat export\n[10:42] Priya: can you reset it?", "Priya"),
    ("ok\nLukas: done, closing the ticket", "Lukas"),
    # A first name after a word addressed to a person.
    ("Can you ask Priya about it?", "Priya"),
    ("I emailed Lukas yesterday, no answer yet.", "Lukas"),
    ("Hi Anna how are you", "Anna"),
    ("Hello, my name is Oliver Bennett.", "Oliver Bennett"),
]

NEGATIVES: list[str] = [
    # Capitalised common words, headings, products, places, months: no name may be reported.
    "Will Grant be there? May I ask about it?",
    "Getting Started With Docker Compose",
    "Summer Sale: Rose Garden Hotel",
    "We opened an office in Long Beach in June.",
    "The John Smith Foundation funds research.",
    "We use Microsoft Teams, Google Chrome and Visual Studio Code on Windows Server.",
    "Apache Kafka and Amazon Web Services are in the stack.",
    "The Jordan Valley is nice in April.",
    "May Contain Nuts",
    "Grant Writing Workshop",
    "Bill Payment Options",
    "Mark As Read",
    "RELEASE NOTES: NEW FEATURES",
    "Dear Customer,\nthanks for your patience.",
    "Best regards,\nThe Support Team\n",
    "Hi Team,\nthe build is green.",
    "Hello World!",
    "name: Module name.",
    "Employee = NamedTuple('Employee', [('name', str)])",
    "Instance variables:\n    name: Module name.",
    "Given positive integers x and M.\nGiven more",
    "In March and May the King Street branch was closed.",
    "Price Young Long",
    "Customer: Acme Corp",
    "Contact: Support Team",
    "Order Summary\nShipping Address\nPayment Method",
    "Please contact Support for help.",
    "You can ask Google about it.",
    "thanks Will for that",
    "Paris,France,Europe",
    "Summary\nNote: nothing to add\nWill: be done tomorrow\nIssue: none",
    "From: Support <help@example.com>",
    "Please reply to: Sales",
    "city;country\nLondon;England",
]


@pytest.mark.parametrize(("text", "name"), POSITIVES, ids=[n for _, n in POSITIVES])
def test_name_is_found(detector: Detector, text: str, name: str) -> None:
    found = [text[f.start:f.end] for f in detector.scan(text) if f.data_class == "pii.name"]
    assert name in found


@pytest.mark.parametrize("text", NEGATIVES, ids=[t[:32] for t in NEGATIVES])
def test_no_name_in_hard_negative(detector: Detector, text: str) -> None:
    found = [text[f.start:f.end] for f in detector.scan(text) if f.data_class == "pii.name"]
    assert found == []


def test_a_repeated_name_is_redacted_everywhere(detector: Detector) -> None:
    text = "Anna Kowalski called. Later Anna Kowalski wrote again: Anna Kowalski"
    findings = [f for f in detector.scan(text) if f.data_class == "pii.name"]
    assert len(findings) == 3


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 40])
def test_streamed_names_equal_whole_text(detector: Detector, size: int) -> None:
    text = ("Hello, I spoke to Łukasz Nowak and Maria de la Cruz yesterday. The John Smith Foundation said "
            "Mark Taylor and Will Grant were late.\nDear Amélie,\nthe Rose Garden Hotel is booked for "
            "Jan van der Berg.\n\nMit freundlichen Grüßen\nKlaus Becker\n[10:42] Priya: done\nNote: ok\n") * 2
    whole = redact(text, detector.scan(text), ActionPolicy(), PlaceholderMap("a")).text
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("b"))
    streamed = "".join(r.feed(text[i:i + size]) for i in range(0, len(text), size)) + r.flush()
    assert streamed == whole
    assert "Nowak" not in streamed
    assert "Becker" not in streamed
    assert "Rose Garden" in streamed


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 40])
def test_a_stream_that_starts_with_a_speaker_equals_whole_text(detector: Detector, size: int) -> None:
    """The text's first line names its speaker; later lines start with labels and speakers, after long
    stretches of prose the stream has released (a later buffer start is not the text's start)."""
    prose = "the team checked the invoice twice and everything matched the order we placed last month. "
    text = ("Kaisa: can you wire the deposit today?\n" + prose * 6 + "\nNote: ok\n" + prose * 6
            + "\nPriya: done\nMonday: fine for me\n" + prose * 3)
    whole = redact(text, detector.scan(text), ActionPolicy(), PlaceholderMap("a")).text
    r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("b"))
    streamed = "".join(r.feed(text[i:i + size]) for i in range(0, len(text), size)) + r.flush()
    assert streamed == whole
    assert "Kaisa" not in streamed
    assert "Priya" not in streamed
    assert "Note: ok" in streamed
    assert "Monday: fine" in streamed


def test_plain_prose_is_not_held_for_names(detector: Detector) -> None:
    # Lower-case prose holds no name opener: the stream releases it a few characters behind.
    prose = "the answer is that we can help you with this today " * 4
    # Once the next word begins; until then the last word waits, as it may be an e-mail address's local part.
    assert detector.hold.release(prose + "t", 0)[0] == len(prose) - detector.hold.blanket
    assert detector.hold.release(prose, 0)[0] == len(prose) - len("today ")


def test_a_capitalised_word_at_the_end_of_the_stream_is_held(detector: Detector) -> None:
    text = "word " * 30 + "Anna "
    assert detector.hold.release(text, 0)[0] <= text.index("Anna")


def test_the_table_marks_names_and_words() -> None:
    table = name_table()
    assert table.flags("Łukasz") & FIRST
    assert table.flags("Kowalski") & LAST
    assert table.flags("will") & COMMON_NAME
    assert table.flags("Will") & FIRST
    assert table.flags("Invoice") == WORD
    assert table.flags("Smith-Jones") & LAST
    assert table.flags("Qzxv") == 0


def test_table_file_format() -> None:
    table = parse("#f\nanna\nmaria\n#lc\nbrown\n#w\ninvoice\n")
    assert len(table) == 4
    assert table.flags("Anna") == FIRST
    assert table.flags("BROWN") == LAST | COMMON_NAME
    assert table.flags("Invoice") == WORD
    assert table.flags("Anna-Brown") == FIRST | LAST
