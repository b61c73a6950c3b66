"""Street addresses: a table of positives per locale family and a table of hard negatives.

Each positive names the exact span that must be reported as ``pii.address``; each hard negative must
come out with no address finding at all. Every positive also streams: fed in small chunks, the
redacted output equals the whole-text redaction.
"""

from __future__ import annotations

import pytest

from interlock.detect import Detector
from interlock.redact import ActionPolicy, PlaceholderMap, StreamingRedactor, redact

POSITIVES: dict[str, list[tuple[str, str]]] = {
    # (text, the span that must be reported)
    "english": [
        ("ship to 221B Baker Street, London NW1 6XE please", "221B Baker Street, London NW1 6XE"),
        ("The White House is at 1600 Pennsylvania Avenue NW, Washington, DC 20500.",
         "1600 Pennsylvania Avenue NW, Washington, DC 20500"),
        ("Deliver to 350 5th Ave, New York, NY 10118", "350 5th Ave, New York, NY 10118"),
        ("my flat is 42 Wallaby Way, Sydney", "42 Wallaby Way, Sydney"),
        ("Send it to Flat 3, 12 High St, Oxford OX1 4AH", "Flat 3, 12 High St, Oxford OX1 4AH"),
        ("office: 500 Oracle Pkwy, Suite 200, Redwood City, CA 94065", "500 Oracle Pkwy, Suite 200, Redwood City, CA 94065"),
        ("We moved to 18 Maple Crescent, Toronto, ON M4W 1A8", "18 Maple Crescent, Toronto, ON M4W 1A8"),
        ("postcode SW1A 2AA", "SW1A 2AA"),
        ("She lives at 7 Merrion Square, Dublin 2, D02 X285", "7 Merrion Square, Dublin 2, D02 X285"),
        ("Springfield, IL 62704", "Springfield, IL 62704"),
        ("397 Merriam Run, 87390 Burlingame", "397 Merriam Run, 87390 Burlingame"),
        ("453 Ballymacarrett Drive, 2113 North Ryde", "453 Ballymacarrett Drive, 2113 North Ryde"),
    ],
    "german, austrian, swiss": [
        ("Adresse: Hauptstraße 5, 10115 Berlin", "Hauptstraße 5, 10115 Berlin"),
        ("Bitte an Hauptstraße 5a liefern", "Hauptstraße 5a"),
        ("Wir wohnen in der Berliner Straße 12, 60311 Frankfurt am Main", "Berliner Straße 12, 60311 Frankfurt am Main"),
        ("Lieferung an Kaiser-Wilhelm-Str. 7, D-20355 Hamburg", "Kaiser-Wilhelm-Str. 7, D-20355 Hamburg"),
        ("Mariahilfer Gasse 3, A-1060 Wien", "Mariahilfer Gasse 3, A-1060 Wien"),
        ("Bahnhofstrasse 10, 8001 Zürich", "Bahnhofstrasse 10, 8001 Zürich"),
        ("Am Markt 3, 28195 Bremen", "Am Markt 3, 28195 Bremen"),
        ("Karl-Seitz-Hof 676, 6771 Hohenems", "Karl-Seitz-Hof 676, 6771 Hohenems"),
        ("Postfach 10 01 23, 70173 Stuttgart", "Postfach 10 01 23, 70173 Stuttgart"),
    ],
    "french, belgian": [
        ("au 12 rue de la Paix, 75002 Paris", "12 rue de la Paix, 75002 Paris"),
        ("J'habite au 5, avenue Foch, 69006 Lyon", "5, avenue Foch, 69006 Lyon"),
        ("livraison: 8 bis boulevard Haussmann 75009 Paris", "8 bis boulevard Haussmann 75009 Paris"),
        ("Rue de la Loi 16, 1000 Bruxelles", "Rue de la Loi 16, 1000 Bruxelles"),
        ("BP 1234, 31000 Toulouse", "BP 1234, 31000 Toulouse"),
    ],
    "italian, spanish, portuguese": [
        ("abito in Via Roma 10, 00184 Roma", "Via Roma 10, 00184 Roma"),
        ("indirizzo via Giuseppe Garibaldi, 25 a Torino", "via Giuseppe Garibaldi, 25"),
        ("Piazza del Duomo 1, 20122 Milano MI", "Piazza del Duomo 1, 20122 Milano MI"),
        ("Vivo en Calle Mayor, 5, 28013 Madrid", "Calle Mayor, 5, 28013 Madrid"),
        ("envío a C/ Alcalá 42, 3º B, 28014 Madrid", "C/ Alcalá 42, 3º B, 28014 Madrid"),
        ("Paseo de Gracia 92, 08008 Barcelona", "Paseo de Gracia 92, 08008 Barcelona"),
        ("Rua Augusta 100, 1100-053 Lisboa", "Rua Augusta 100, 1100-053 Lisboa"),
        ("Apartado 1234, Madrid", "Apartado 1234, Madrid"),
        ("664 Viale Clauzetto, 20100 Milano", "664 Viale Clauzetto, 20100 Milano"),
        ("Los Laureles 1076, 72914 Lleida", "Los Laureles 1076, 72914 Lleida"),
        ("Strada Taliercio, 47\n56011, Gabella (PI)", "Strada Taliercio, 47\n56011, Gabella (PI)"),
        ("Pasaje Los Olivos 115 Apt. 8\nJaén, 23001", "Pasaje Los Olivos 115 Apt. 8\nJaén, 23001"),
    ],
    "latin american": [
        ("Av. Paulista, 1578 - Bela Vista, São Paulo - SP, 01310-200",
         "Av. Paulista, 1578 - Bela Vista, São Paulo - SP, 01310-200"),
        ("Rua Oscar Freire, 379, São Paulo", "Rua Oscar Freire, 379, São Paulo"),
        ("Travessa do Carmo 12, 2º andar", "Travessa do Carmo 12, 2º andar"),
        ("Caixa Postal 2001", "Caixa Postal 2001"),
        ("CEP: 01310-100", "01310-100"),
        ("Avenida Insurgentes Sur 1602, Col. Crédito Constructor, Ciudad de México, CDMX 03940",
         "Avenida Insurgentes Sur 1602, Col. Crédito Constructor, Ciudad de México, CDMX 03940"),
        ("Carrera 7 # 32-16, Bogotá", "Carrera 7 # 32-16, Bogotá"),
        ("Calle 26 No. 13-19", "Calle 26 No. 13-19"),
        ("Dg. 7Q # 80-4 Este\n688344\nBetulia, Santander", "Dg. 7Q # 80-4 Este\n688344\nBetulia, Santander"),
        ("Jardim Campos, 87\nVila Nova\n31706690 Belo Horizonte / MG",
         "Jardim Campos, 87\nVila Nova\n31706690 Belo Horizonte / MG"),
        ("Calle Las Araucarias 263\nLlanquihue, Región de Los Lagos, 5480000",
         "Calle Las Araucarias 263\nLlanquihue, Región de Los Lagos, 5480000"),
    ],
    "dutch, nordic, baltic": [
        ("Keizersgracht 123, 1015 CJ Amsterdam", "Keizersgracht 123, 1015 CJ Amsterdam"),
        ("Postbus 1234, 2501 CE Den Haag", "Postbus 1234, 2501 CE Den Haag"),
        ("Storgatan 12, 114 55 Stockholm", "Storgatan 12, 114 55 Stockholm"),
        ("Vesterbrogade 3, 1620 København V", "Vesterbrogade 3, 1620 København V"),
        ("Karl Johans gate 5, 0154 Oslo", "Karl Johans gate 5, 0154 Oslo"),
        ("Mannerheimintie 12 A 5, 00100 Helsinki", "Mannerheimintie 12 A 5, 00100 Helsinki"),
        ("Brīvības iela 55, Rīga", "Brīvības iela 55, Rīga"),
        ("aadress: Pärnu mnt 10, 10148 Tallinn", "Pärnu mnt 10, 10148 Tallinn"),
        ("ship to 2315 Männi 12, Mustoja", "2315 Männi 12, Mustoja"),
        ("Could you drop the parcel at 664 Katleri maantee tomorrow?", "664 Katleri maantee"),
        ("664 Ellermanstraat, 1000 Brussel", "664 Ellermanstraat, 1000 Brussel"),
    ],
    "central and eastern european": [
        ("Na Průhonu 465", "Na Průhonu 465"),
        ("ul. Kurantów 76", "ul. Kurantów 76"),
        ("ul. Marszałkowska 1/5, 00-950 Warszawa", "ul. Marszałkowska 1/5, 00-950 Warszawa"),
        ("Skrytka pocztowa 12, 00-950 Warszawa", "Skrytka pocztowa 12, 00-950 Warszawa"),
        ("bydlím Dlouhá 730/12, 110 00 Praha 1", "Dlouhá 730/12, 110 00 Praha 1"),
        ("Váci utca 12, 1052 Budapest", "Váci utca 12, 1052 Budapest"),
        ("Lázár Vilmos útja 12, 6000 Kecskemét", "Lázár Vilmos útja 12, 6000 Kecskemét"),
        ("Strada Lipscani 5, București", "Strada Lipscani 5, București"),
        ("Dunajska cesta 5, 1000 Ljubljana", "Dunajska cesta 5, 1000 Ljubljana"),
        ("İstiklal Caddesi No: 5, Beyoğlu", "İstiklal Caddesi No: 5, Beyoğlu"),
        ("Intrarea Diaconu Nr. 7 Bl. 71 Sc. 1 Ap. 86\nCisnadie, 555300", "Intrarea Diaconu Nr. 7 Bl. 71 Sc. 1 Ap. 86\nCisnadie, 555300"),
        ("Mirje 77\n3170 Šempeter pri Gorici", "Mirje 77\n3170 Šempeter pri Gorici"),
    ],
    "latin-script asian": [
        ("Jl. Sudirman No. 5, Jakarta", "Jl. Sudirman No. 5, Jakarta"),
        ("alamat: Jalan Ampang 12, 50450 Kuala Lumpur", "Jalan Ampang 12, 50450 Kuala Lumpur"),
        ("Soi Sukhumvit 11, Bangkok 10110", "Soi Sukhumvit 11, Bangkok 10110"),
        ("123 Đường Lê Lợi, Quận 1, Hồ Chí Minh", "123 Đường Lê Lợi, Quận 1, Hồ Chí Minh"),
        ("Teheran-ro 152, Gangnam-gu, Seoul", "Teheran-ro 152, Gangnam-gu, Seoul"),
        ("address 1-2-3 Shibuya, Shibuya-ku, Tokyo 150-0002", "1-2-3 Shibuya, Shibuya-ku, Tokyo 150-0002"),
        ("12 Rizal Street, Barangay San Antonio, Makati", "12 Rizal Street, Barangay San Antonio, Makati"),
        ("Room 1407 Garnet Apartment, 417 Virgo Avenue, Malolos, 3000 Bulacan",
         "Room 1407 Garnet Apartment, 417 Virgo Avenue, Malolos, 3000 Bulacan"),
        ("Gang Kutai No. 736\nSurakarta, Jawa Tengah 57111", "Gang Kutai No. 736\nSurakarta, Jawa Tengah 57111"),
        ("8 phố Hùng Vương Phường Tân Phú tỉnh Thanh Hóa", "8 phố Hùng Vương Phường Tân Phú tỉnh Thanh Hóa"),
        ("H.No. 17, Sodhi Chowk\nBhagalpur-812001", "H.No. 17, Sodhi Chowk\nBhagalpur-812001"),
    ],
    "lower case after an address phrase": [
        ("i live at 742 evergreen terrace, springfield and you?", "742 evergreen terrace, springfield"),
        ("hey can you ship it to 12 baker street, london", "12 baker street, london"),
        ("ich wohne in der hauptstraße 5, berlin", "hauptstraße 5, berlin"),
        ("vivo en calle mayor 5", "calle mayor 5"),
        ("mieszkam na ul. kurantów 76", "ul. kurantów 76"),
        ("My address is 5 high st", "5 high st"),
        ("ship it to Deneb 664 please", "Deneb 664"),
        ("mi dirección es Villas del Río 664", "Villas del Río 664"),
        ("find us at Hetteikkö 96, Helsinki", "Hetteikkö 96, Helsinki"),
    ],
    "blocks and labels": [
        ("Jan Novák\nNa Průhonu 465\n530 09 Pardubice\nCzech Republic\n\nThanks",
         "Na Průhonu 465\n530 09 Pardubice\nCzech Republic"),
        ("Anna Schmidt\nHauptstraße 5\n10115 Berlin\nGermany", "Hauptstraße 5\n10115 Berlin\nGermany"),
        ("John Smith\n10 Downing Street\nLondon\nSW1A 2AA\nUnited Kingdom",
         "10 Downing Street\nLondon\nSW1A 2AA\nUnited Kingdom"),
        ("Männi 12\n23150 Mustoja\nEstonia", "Männi 12\n23150 Mustoja\nEstonia"),
        ('{"name": "Ana", "address": "Rua das Flores 12, Porto"}', "Rua das Flores 12, Porto"),
        ("Shipping address: 4 Privet Drive, Little Whinging", "4 Privet Drive, Little Whinging"),
        ("P.O. Box 4521, Anchorage, AK 99501", "P.O. Box 4521, Anchorage, AK 99501"),
        ("Mailing address:\n77 Massachusetts Ave\nCambridge, MA 02139\nUSA",
         "77 Massachusetts Ave\nCambridge, MA 02139\nUSA"),
        ("ZIP: 94105", "94105"),
        ('{"street": "Hauptstraße 5", "city": "Berlin", "zip": "10115"}', "Berlin"),
        ("Street: 5th Avenue 12\nCity: New York", "New York"),
        ("Jan Novák,Na Průhonu 465,530 09,Pardubice", "Na Průhonu 465,530 09,Pardubice"),
        ("id;name;street;zip;city\n7;Anna;Hauptstraße 5;10115;Berlin", "Hauptstraße 5;10115;Berlin"),
        ("Best regards,\nMaria Rossi\nAcme GmbH\nFriedrichstraße 123\n10117 Berlin\nTel: +49 30 1234567",
         "Friedrichstraße 123\n10117 Berlin"),
        ("Please deliver to ul. Marszałkowska 1/5 m. 12, 00-950 Warszawa, Polska",
         "ul. Marszałkowska 1/5 m. 12, 00-950 Warszawa, Polska"),
        ("743 Rachel Burgs\nNorth Debratown, OR 97501", "743 Rachel Burgs\nNorth Debratown, OR 97501"),
        ("17 Jones Light\nNorth Holly\nS6 7LJ", "17 Jones Light\nNorth Holly\nS6 7LJ"),
        ("17 Kennedy Laneway\nEast Perth, WA, 6004", "17 Kennedy Laneway\nEast Perth, WA, 6004"),
        ("Apt. 841\n77 Scott Avenue\nPort Chalmers 9023", "Apt. 841\n77 Scott Avenue\nPort Chalmers 9023"),
        ("Gerritsingel 7\n1317 YB\n's-Hertogenbosch", "Gerritsingel 7\n1317 YB\n's-Hertogenbosch"),
    ],
    "us military post": [
        ("Ship to SGT John Smith, PSC 1234, Box 5678, APO AE 09204 by May", "PSC 1234, Box 5678, APO AE 09204"),
        ("Unit 2050 Box 4190\nAPO AP 96278-4190", "Unit 2050 Box 4190\nAPO AP 96278-4190"),
        ("mail: USS Nimitz (CVN 68), FPO AP 96620-2820", "USS Nimitz (CVN 68), FPO AP 96620-2820"),
        ("CMR 450 Box 1234, APO AE 09136", "CMR 450 Box 1234, APO AE 09136"),
        ("send it to Unit 8400, Box 2101 DPO AE 09498-2101 thanks", "Unit 8400, Box 2101 DPO AE 09498-2101"),
    ],
}

CASES = [(family, text, value) for family, rows in POSITIVES.items() for text, value in rows]

NEGATIVES: list[str] = [
    "I have 3 cats and 12 dogs",
    "version 2 street team",
    "Order 12345 shipped",
    "Order 12345 Shipping Confirmation",
    "we have 3 big Ideas for the road ahead",
    "Please place Order 1234 today",
    "upgrade to Windows 10, Office 365 and Teams",
    "Python 3, Django 4 and React 18 are installed",
    "Chapter 5, Section 2 explains it",
    "The meeting is at 10:30 on Monday, 12 March 2024",
    "released on 2024-01-15 Monday",
    "Spring 2024 collection",
    "version 1.2.3 of the street-map library",
    "It has 4096 MB Memory and 1080 HD Display",
    "Room 101, Building 5",
    "see page 12, Figure 3",
    "sent via Slack 2 times",
    "the boarding Gate 5, Terminal 2",
    "e-mail address: jane.doe@example.com",
    "IP address: 10.0.0.1",
    "wallet address: 0x52908400098527886E0F7030069857D2E4169EE7",
    "Total 250 EUR, Subtotal 200",
    "const street = getStreet(42);",
    "listen_address = 0.0.0.0:8080",
    "1 cup of flour, 2 eggs",
    "We shipped 12 Units to Berlin",
    "Score: 3 Points, Rank 7",
    "Season 2, Episode 5",
    "iPhone 15 Pro Max",
    "at 5 PM we meet",
    "Step 3: Run the tests",
    "Kubernetes 1.29 cluster with 3 Nodes",
    "ticket 4521 was closed",
    "In 2019 Apple released 3 Products",
    "Batch 12, Run 4",
    "Table 3, Row 7",
    "Windows 11 Pro, Office 2021 and Teams 2 are installed.",
    "Am Freitag 12 Uhr treffen wir uns.",
    "Die Straße 5 Minuten entfernt.",
    "Use Python 3.12, Django 5, Postgres 16 and Redis 7.",
    "He lives in a flat with 2 Cats.",
    "Version 3.11 of Python, Version 20 of Node.",
    "Flight LH 400 departs from Terminal 1, Gate A12 at 13:45.",
    "MacBook Pro 14, M3 Max 36 GB RAM, 1 TB SSD.",
    "2024-03-12 10:45:01 INFO Started Application in 3.2 seconds",
    "SELECT * FROM orders WHERE id = 12345 AND status = 'Shipped';",
    "I moved to version 2 last week",
    "we live at home 5 days a week",
    "send it to the team 3 times",
    '{"state": "active", "city_count": 3}',
    "Ship to: see attached",
    "ship to 12 locations across the street",
    "We need to ship to 5 customers by Friday",
    "I live on 2 dollars a day",
    "the postcode field takes 4096 MB of memory",
    "I sent 3 via Email",
    "ship to customers 5 days",
    '{"name": "get_weather", "arguments": {"city": "Paris"}}',
    "OS X 10.9 and later",
    "as described via the DOM Level 2 spec",
    "class ByteString, 0",
    "As per RFC 273, IPv6 is used",
    "Copyright 2011-2014 Vinay Sajip. All rights reserved.",
    "Copyright (C) 2005 Gerhard Häring",
    "Please review PR 1234 and PR 1240 before Friday.",
    "Boarding gate 5 closes at 10",
    "Please review the gate 5 before",
    "The APO AE region covers Europe and the FPO code comes next.",
    "Unit 2050 passed the test; Box 4190 is on the shelf.",
]


@pytest.mark.parametrize(("family", "text", "value"), CASES, ids=[f"{f}:{v[:28]}" for f, _, v in CASES])
def test_address_is_found(detector: Detector, family: str, text: str, value: str) -> None:
    found = [text[f.start:f.end] for f in detector.scan(text) if f.data_class == "pii.address"]
    assert value in found, found


@pytest.mark.parametrize("text", NEGATIVES)
def test_hard_negative_has_no_address(detector: Detector, text: str) -> None:
    found = [text[f.start:f.end] for f in detector.scan(text) if f.data_class == "pii.address"]
    assert not found, found


@pytest.mark.parametrize("size", [1, 3, 8])
def test_every_address_streams_as_whole(detector: Detector, size: int) -> None:
    """Openers must cover every span: chunked output equals the whole-text redaction."""
    for _, sample, value in CASES:
        text = "Here is what the customer wrote to us this morning. " + sample + " and more ordinary words follow."
        whole = redact(text, detector.scan(text, backward=False), ActionPolicy(), PlaceholderMap("a")).text
        r = StreamingRedactor(detector, ActionPolicy(), PlaceholderMap("b"))
        streamed = "".join(r.feed(text[i:i + size]) for i in range(0, len(text), size)) + r.flush()
        assert streamed == whole, sample
        assert value not in streamed, sample


def test_a_number_in_prose_releases_within_a_few_words(detector: Detector) -> None:
    hold = detector.hold
    text = "We have 3 cats at home and they are fine " + "word " * 30
    safe, _ = hold.release(text, 0)
    assert safe > text.index("cats")


MB = 1_000_000
# Address-shaped text with no end: every position starts a candidate. A backtracking engine, or work per
# candidate that grew with the text, would not finish; the deadline fixture turns a hang into a failure.
ADVERSARIAL = {
    "street lines": "Hauptstraße 5, " * (MB // 15),
    "street and postcode blocks": "Na Průhonu 465\n530 09 Pardubice\n" * (MB // 31),
    "names and numbers": "Ab Cd 12, " * (MB // 10),
    "postcodes": "1234 AB " * (MB // 8),
    "labels": "Address: " * (MB // 9),
    "prefixes": "ul. " * (MB // 4),
}


@pytest.mark.usefixtures("scan_deadline")
@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_address_input_completes(detector: Detector, name: str) -> None:
    text = ADVERSARIAL[name]
    findings = detector.scan(text)
    assert all(0 <= f.start < f.end <= len(text) for f in findings)
