"""Per-conversation placeholder map: the same value always gets the same placeholder."""

from __future__ import annotations

from dataclasses import dataclass, field

from interlock.redact.labels import label_for


@dataclass(frozen=True, slots=True)
class Entry:
    placeholder: str
    data_class: str
    value: str


@dataclass(slots=True)
class PlaceholderMap:
    """``(class, value) -> placeholder`` and ``placeholder -> (class, value)`` for one conversation.

    Numbering is per label and starts at 1, in order of first appearance. The map only grows; erase a
    conversation by dropping its map from the vault.
    """

    conversation_id: str
    _by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    _by_placeholder: dict[str, Entry] = field(default_factory=dict)
    _counters: dict[str, int] = field(default_factory=dict)

    def placeholder_for(self, data_class: str, value: str) -> str:
        key = (data_class, value)
        existing = self._by_value.get(key)
        if existing is not None:
            return existing
        label = label_for(data_class)
        number = self._counters.get(label, 0) + 1
        self._counters[label] = number
        placeholder = f"[{label}_{number}]"
        self._by_value[key] = placeholder
        self._by_placeholder[placeholder] = Entry(placeholder, data_class, value)
        return placeholder

    def lookup(self, placeholder: str) -> Entry | None:
        return self._by_placeholder.get(placeholder)

    def entries(self) -> list[Entry]:
        return list(self._by_placeholder.values())

    def add(self, entry: Entry) -> None:
        """Re-insert an entry read back from storage."""
        self._by_value[(entry.data_class, entry.value)] = entry.placeholder
        self._by_placeholder[entry.placeholder] = entry
        label, _, number = entry.placeholder[1:-1].rpartition("_")
        self._counters[label] = max(self._counters.get(label, 0), int(number))

    @property
    def longest_placeholder(self) -> int:
        return max((len(p) for p in self._by_placeholder), default=0)

    def __len__(self) -> int:
        return len(self._by_placeholder)
