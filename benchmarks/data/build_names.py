"""Builds src/interlock/detect/data/names.tsv.gz, the name dictionary of the ``person_name`` recognizer.

Source: the ``names-dataset`` package (PyPI, 3.3.1; licence file Apache-2.0), which holds first and last
names with their popularity rank in each of 105 countries. It is large (56 MB wheel, about 3 GB in
memory), so it is a build input only: install it in a throw-away environment and run

    pip install names-dataset==3.3.1
    python benchmarks/data/build_names.py

Debian's word lists (``wamerican``, ``wbritish``: SCOWL word lists) mark names that are also lower-case
English words ("Will", "Rose", "Grant"), which the recognizer only accepts with strong evidence.

Kept: names written in Latin script (with diacritics), two or more letters, among the ``FIRST_TOP`` most
popular first names or ``LAST_TOP`` most popular last names of at least one country. Only the names and
three flags are written; no counts, ranks or anything else about any person. Deterministic: re-running
it with the same inputs reproduces the file byte for byte.

The same lists give the lower-case English words that are not names (flag ``w``): a capitalised word
that is one ("Invoice", "Garden") ends a name rather than extending it; so does a word they write
capitalised that is not among the names (a place, a people, a language: "Italian", "Denver"), and a
short list of products and companies written here (``BRANDS``), and one-word country names.

The file is one section per combination of flags, each a line ``#<flags>`` then its words in lower case,
one a line, sorted. Flags: ``f`` (a first name), ``l`` (a last name), ``c`` (a name that is also a common
word) and ``w`` (a common word, not a name). Sections load with one C-level call each.
"""

from __future__ import annotations

import gzip
import io
import pickle
import re
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[2] / "src" / "interlock" / "detect" / "data" / "names.tsv.gz"
FIRST_TOP = 2000
LAST_TOP = 2500
WORD_LISTS = (Path("/usr/share/dict/american-english"), Path("/usr/share/dict/british-english"))

# Latin letters with the diacritics of European and Vietnamese spelling; apostrophe and hyphen inside.
_LATIN = re.compile(r"^[A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u024F\u1E00-\u1EFF]+(?:['\-][A-Za-z\u00C0-\u024F]+)*$")

def _words(text: str) -> list[str]:
    return text.split()


# Words that are lower-case English words only in a rare sense; as capitalised words they are names.
NOT_COMMON = frozenset(_words("""
aline carol carmine clement colleen dieter dirk hector john margarita maria martin patsy patty peter sander
serge tom tony victor billy bobby harry jimmy eddy randy ester wellington roman nick josh
"""))
# Common words of the main European languages (capitalised at a sentence start, or as German nouns) that
# are also in the name lists, and English month names: they need strong evidence too.
EXTRA_COMMON = frozenset(_words("""
april august june may january july march september october november december
sommer winter herbst wolf fuchs koch bauer meister vogel stein berg wald hahn keller
rosa blanco blanca luz paz sol cruz pilar rocio dolores mercedes angeles consuelo
rose fleur pierre blanc roux petit
bella bianca fiore rosso
"""))
# Products and companies that prose names often ("Apache Kafka", "Google Cloud"); a name among them ("Ford",
# "Tesla", "Dell") becomes a common name, the others common words.
BRANDS = frozenset(_words("""
apache google microsoft amazon apple oracle adobe ibm azure aws mozilla linux ubuntu debian fedora android
windows docker kubernetes python java javascript typescript node react angular vue spring django flask rails
slack zoom jira confluence github gitlab bitbucket salesforce stripe shopify paypal visa mastercard intel nvidia
cisco dell lenovo samsung sony netflix spotify uber airbnb meta facebook twitter instagram linkedin youtube
whatsapp telegram chrome firefox safari edge office outlook excel powerpoint teams onedrive dropbox icloud
tesla toyota honda ford mercedes bmw audi volkswagen porsche ferrari nike adidas ikea siemens bosch philips
postgres postgresql mysql redis kafka spark hadoop elasticsearch kibana grafana prometheus terraform ansible
jenkins circleci travis heroku vercel netlify cloudflare openai anthropic claude gemini copilot chatgpt llama
mistral alexa siri cortana
"""))
# Words that are never a name token however the lists have them (noise in the source).
NEVER = frozenset(_words("""
the and an a of or for to in on at by with from as is are was be been it its this that these those
we you he she they i me my our your his her their them us not no yes all any some but so if do
does did has have had can could would should will shall may might must just also new please thanks
thank hello hi hey dear team sir madam mr mrs ms dr mom dad baby
monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
""")) - frozenset({"will", "may"})


def _load(path: Path) -> Any:
    with gzip.open(path, "rb") as handle:
        return pickle.load(handle)


def _popular(table: dict[str, dict[str, Any]], top: int) -> set[str]:
    kept = set()
    for name, info in table.items():
        ranks = info.get("rank") or {}
        # Two letters without a vowel ("Tk") is noise in the source, except the surname Ng.
        short_noise = len(name) == 2 and not any(c in "aeiouyAEIOUY" for c in name) and name.lower() != "ng"
        if len(name) > 1 and not short_noise and _LATIN.match(name) and any(r <= top for r in ranks.values()):
            kept.add(name.lower())
    return kept - NEVER


def _common_words() -> tuple[set[str], set[str]]:
    """Lower-case words, and the words the lists write capitalised (places, peoples, languages, and
    some names)."""
    words: set[str] = set()
    proper: set[str] = set()
    for path in WORD_LISTS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if "'" in line:
                continue
            if line[:1].islower():
                words.add(line)
            elif line[:1].isupper() and line[1:].islower():
                proper.add(line.lower())
    return words, proper


def _countries() -> set[str]:
    """One-word country names (ISO 3166-1, from ``pycountry``, which ``names-dataset`` installs):
    "Jordan", "Chad", "Georgia", "France" are names too, and need strong evidence."""
    import pycountry  # a build input only

    return {c.name.lower() for c in pycountry.countries if " " not in c.name and "," not in c.name}


def build() -> bytes:
    import names_dataset  # a build input only

    folder = Path(names_dataset.__file__).parent / "v3"
    first = _popular(_load(folder / "first_names.pkl.gz"), FIRST_TOP)
    last = _popular(_load(folder / "last_names.pkl.gz"), LAST_TOP)
    words, proper = _common_words()
    common = (words | EXTRA_COMMON | BRANDS | _countries()) - NOT_COMMON
    names = first | last
    # A capitalised word of the lists that is not among the names is a place, a people or a language.
    common |= proper - names
    sections: dict[str, list[str]] = {}
    for word in sorted(names | common):
        if word in names:
            flags = ("f" if word in first else "") + ("l" if word in last else "") + ("c" if word in common else "")
        elif len(word) > 1:
            flags = "w"
        else:
            continue
        sections.setdefault(flags, []).append(word)
    raw = "".join(f"#{flags}\n" + "".join(f"{w}\n" for w in words) for flags, words in sorted(sections.items()))
    raw = raw.encode("utf-8")
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0, filename="") as handle:
        handle.write(raw)
    return out.getvalue()


def main() -> None:
    data = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(data)
    print(f"wrote {OUT} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
