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
    # The sealed form this map was read from or last stored as (None: nothing stored yet): the vault
    # stores a new version only in its place, so turns of one conversation never overwrite each other.
    stored_as: bytes | None = None
    # How many of the entries (the first ones, in order) are in ``stored_as``.
    _stored: int = 0

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

    def placeholder_of(self, data_class: str, value: str) -> str | None:
        return self._by_value.get((data_class, value))

    def new_entries(self) -> list[Entry]:
        """The entries added since the map was read or stored."""
        return self.entries()[self._stored:]

    def mark_stored(self, sealed: bytes) -> None:
        self.stored_as = sealed
        self._stored = len(self._by_placeholder)

    def adopt(self, other: PlaceholderMap) -> None:
        """Become ``other`` (the same conversation's map as stored meanwhile), in place: whoever holds this
        map sees the entries the vault now holds."""
        self._by_value = dict(other._by_value)
        self._by_placeholder = dict(other._by_placeholder)
        self._counters = dict(other._counters)
        self.stored_as = other.stored_as
        self._stored = other._stored

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
