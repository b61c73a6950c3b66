"""Server-sent events as providers send them: the ``data`` of each event, whatever the line endings.

An event is the lines up to a blank line; its ``data:`` lines are joined with newlines (a JSON
chunk may be split over several). Comments (``:``), ``event:``, ``id:`` and ``retry:`` lines carry
nothing a chat chunk needs. Lines end in LF, CRLF or a lone CR (the SSE grammar allows all three);
a CR at the end of one read may be the first half of a CRLF, so it waits for the next.
"""

from __future__ import annotations


class SseDecoder:
    def __init__(self) -> None:
        self._pending = b""
        self._data: list[bytes] = []

    def feed(self, data: bytes) -> list[bytes]:
        """The data of every event completed by ``data``."""
        buf = self._pending + data
        if b"\r" in buf:
            held = buf.endswith(b"\r")
            buf = buf[:-1] if held else buf
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + (b"\r" if held else b"")
        *lines, self._pending = buf.split(b"\n")
        events: list[bytes] = []
        for line in lines:
            self._line(line, events)
        return events

    def end(self) -> list[bytes]:
        """The data of an event the stream ended without closing (no blank line after it)."""
        events: list[bytes] = []
        rest, self._pending = self._pending.rstrip(b"\r"), b""
        if rest:
            self._line(rest, events)
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[bytes]) -> None:
        if not line:
            if self._data:
                events.append(b"\n".join(self._data))
                self._data = []
            return
        if line.startswith(b"data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
