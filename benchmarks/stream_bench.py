"""Streaming delay, side by side in one run: the same paced answer streamed straight from the mock
upstream and through Interlock (output redaction on, its default) in front of it.

The mock model sends one word per chunk, with a fixed pause between chunks (20, 30 and 50 ms by
default), as a model streams its answer. For each pace and for two answers (plain prose, and prose
with an e-mail address, a phone number and a card number in it) the benchmark measures, one request
at a time and alternating direct and gateway requests:

* time to first visible text: from sending the request to reading the first non-empty content;
* per-word delay: for each word of the answer that reaches the client as written (not inside a
  redacted value), when it became visible through the gateway minus when it did directly.

Writes benchmarks/reports/stream.md and stream.json.

    python benchmarks/stream_bench.py [--paces 20,30,50] [--requests 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway_bench import free_port, start_gateway, stop, wait_http

HERE = Path(__file__).resolve().parent
REPORTS = HERE / "reports"
PATH = "/v1/chat/completions"

# (row name, answer, whether chunks carry the space before their word, " word", rather than after it)
CASES = (("prose", "prose", False), ("prose, \" word\" chunks", "prose", True),
         ("prose with values", "prose with values", False))

ANSWERS = {
    "prose": (
        "the customer says their invoices for the last quarter were issued twice and that the duplicate "
        "charges appeared on the company statement, so we will send a corrected statement before the end of "
        "the month and move the annual plan to monthly billing without losing the discount."
    ),
    "prose with values": (
        "the customer says their invoices for the last quarter were issued twice; write to "
        "dana.whitfield@example.com or call +1 202 555 0147 about it, and refund the card 4111 1111 1111 1111 "
        "before the end of the month, then move the annual plan to monthly billing without losing the discount."
    ),
}


def timed_stream(port: int, body: bytes, key: str | None) -> tuple[float, list[tuple[float, str]]]:
    """Send one streaming request; return the time it was sent and (arrival time, content) per piece."""
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    started = time.perf_counter()
    conn.request("POST", PATH, body=body, headers=headers)
    resp = conn.getresponse()
    if resp.status != 200:
        raise RuntimeError(f"status {resp.status}: {resp.read()[:300]!r}")
    pieces: list[tuple[float, str]] = []
    while True:
        line = resp.readline()
        if not line:
            break
        if not line.startswith(b"data: {"):
            continue
        now = time.perf_counter()
        event = json.loads(line[len(b"data: "):])
        if "error" in event:
            raise RuntimeError(f"stream error: {event['error']}")
        for choice in event.get("choices") or ():
            text = (choice.get("delta") or {}).get("content")
            if text:
                pieces.append((now, text))
    conn.close()
    return started, pieces


def word_times(started: float, pieces: list[tuple[float, str]], words: list[str]) -> tuple[str, dict[int, float]]:
    """The whole text received, and for each word of ``words`` found in it in order, the seconds after
    ``started`` at which its last character had arrived."""
    text = "".join(p for _, p in pieces)
    ends: list[tuple[int, float]] = []
    length = 0
    for at, piece in pieces:
        length += len(piece)
        ends.append((length, at - started))
    out: dict[int, float] = {}
    cursor = 0
    for i, word in enumerate(words):
        pos = text.find(word, cursor)
        # Only words that arrive as written, in their place: a redacted value's words do not.
        if pos == -1 or not _SKIPPABLE.fullmatch(text[cursor:pos]):
            continue
        end = pos + len(word)
        out[i] = next(t for n, t in ends if n >= end)
        cursor = end
    return text, out


# What may stand between two words compared: anything without a lower-case letter (whitespace,
# punctuation, placeholders such as [CARD_1], masked values such as ****1111).
_SKIPPABLE = re.compile(r"[^a-z]*")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def measure(paces: list[int], requests: int, mock_port: int, gw_port: int, key: str) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for pace in paces:
        for name, answer_name, leading in CASES:
            answer = ANSWERS[answer_name]
            body = json.dumps({"model": "mock", "stream": True,
                               "messages": [{"role": "user", "content": "Summarise the ticket."}],
                               "mock": {"reply": answer, "chunk_delay_ms": pace, "leading_space": leading}}).encode()
            words = answer.split()
            first: dict[str, list[float]] = {"direct": [], "gateway": []}
            delays: list[float] = []
            sample = ""
            timed_stream(mock_port, body, None)
            timed_stream(gw_port, body, key)
            for _ in range(requests):
                d_start, d_pieces = timed_stream(mock_port, body, None)
                g_start, g_pieces = timed_stream(gw_port, body, key)
                first["direct"].append(d_pieces[0][0] - d_start)
                first["gateway"].append(g_pieces[0][0] - g_start)
                _, direct_words = word_times(d_start, d_pieces, words)
                sample, gateway_words = word_times(g_start, g_pieces, words)
                delays.extend(gateway_words[i] - direct_words[i] for i in gateway_words if i in direct_words)
            d_med, g_med = statistics.median(first["direct"]), statistics.median(first["gateway"])
            results[f"{pace}ms/{name}"] = {
                "pace_ms": pace, "answer": name, "prose": answer_name == "prose", "requests": requests,
                "first_text_direct_ms": d_med * 1000, "first_text_gateway_ms": g_med * 1000,
                "first_text_added_ms": (g_med - d_med) * 1000,
                "first_text_added_max_ms": max(g - d for g, d in zip(first["gateway"], first["direct"],
                                                                      strict=True)) * 1000,
                "word_delay_p50_ms": pct(delays, 50) * 1000, "word_delay_p90_ms": pct(delays, 90) * 1000,
                "word_delay_max_ms": max(delays) * 1000, "words_compared": len(delays) // requests,
                "words": len(words), "gateway_text": sample,
            }
    return results


def report(results: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [
        "# Streaming delay with a paced upstream",
        "",
        f"Run {meta['when']} on {meta['machine']}; the mock upstream sends one word per chunk with the pause "
        "given, the gateway (one worker, SQLite store, output redaction on) stands in front of it, and the "
        f"client reads both, one request at a time, direct and gateway alternating; {meta['requests']} requests "
        "per row and target (medians). Load average (1 min) at start and end: "
        f"{meta['load_average'][0]} and {meta['load_average'][1]}; on a busy machine the maxima are scheduling "
        "noise as much as the gateway's. Written by `benchmarks/stream_bench.py`.",
        "",
        "Target: added time to first visible text at most 5 ms plus one upstream chunk interval for prose.",
        "",
        "| pace | answer | first text, direct | first text, gateway | added (median / max) | within target | "
        "per-word delay p50 / p90 / max | words compared |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results.values():
        target = 5 + r["pace_ms"]
        ok = "yes" if r["first_text_added_ms"] <= target else "no"
        lines.append(
            f"| {r['pace_ms']} ms | {r['answer']} | {r['first_text_direct_ms']:.1f} ms | "
            f"{r['first_text_gateway_ms']:.1f} ms | {r['first_text_added_ms']:.1f} / "
            f"{r['first_text_added_max_ms']:.1f} ms | {ok if r['prose'] else '(prose only)'} | "
            f"{r['word_delay_p50_ms']:.1f} / {r['word_delay_p90_ms']:.1f} / {r['word_delay_max_ms']:.0f} ms | "
            f"{r['words_compared']} of {r['words']} |")
    lines += [
        "",
        "Per-word delay compares, word by word, when a word became visible through the gateway with when it "
        "did directly; words inside a redacted value are not compared (they never arrive as written). The "
        "gateway releases a word once the next word has begun: a word followed only by whitespace may be the "
        "local part of a spelled-out e-mail address (\"jane at gmail.com\"). Whether the chunks carry the "
        "space after their word (\"word \") or before it (\" word\", as model tokenizers stream), a word of "
        "plain prose leaves with the next chunk, one chunk interval later. From a "
        "digit on, text waits until the longest digit-anchored span and its context window (90 characters) "
        "have passed, so that a number is scored as in a whole-text scan: that is the longer tail of the "
        "delays in the second answer.",
        "",
        "What the client saw through the gateway (last request of each answer at the slowest pace):",
        "",
    ]
    slowest = max(r["pace_ms"] for r in results.values())
    for r in results.values():
        if r["pace_ms"] == slowest:
            lines.append(f"- {r['answer']}: `{r['gateway_text']}`")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--paces", default="20,30,50", help="milliseconds between upstream chunks, comma-separated")
    ap.add_argument("--requests", type=int, default=5, help="measured requests per pace, answer and target")
    args = ap.parse_args()
    paces = [int(p) for p in str(args.paces).split(",")]
    work = Path(tempfile.mkdtemp(prefix="interlock-stream-bench-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    mock_port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "interlock", "mock-llm", "--port", str(mock_port)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"http://127.0.0.1:{mock_port}/healthz")
        proc, gw_port, key, _ = start_gateway(work, 1, mock_port, env)
        procs.append(proc)
        load_before = os.getloadavg()[0]
        results = measure(paces, args.requests, mock_port, gw_port, key)
        load_after = os.getloadavg()[0]
    finally:
        for proc in reversed(procs):
            stop(proc)
    meta = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
            "requests": args.requests, "load_average": [round(load_before, 1), round(load_after, 1)]}
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "stream.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    text = report(results, meta)
    (REPORTS / "stream.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
