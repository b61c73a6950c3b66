"""Reversible redaction: placeholders, masking, blocking, restoration, streaming, the vault, and the data
guard (``guard.py``) that joins detection, the policy's per-class decisions and the vault."""

from __future__ import annotations

from interlock.redact.actions import Action, ActionPolicy
from interlock.redact.labels import label_for
from interlock.redact.placeholders import Entry, PlaceholderMap
from interlock.redact.redactor import (
    ALL_CLASSES,
    Redaction,
    Restorer,
    classes_in_json,
    mask,
    mask_json,
    redact,
    restore,
)
from interlock.redact.streaming import StreamingRedactor, StreamingRestorer
from interlock.redact.vault import InMemoryVaultStore, Vault, VaultBusy, VaultCipher, VaultError, VaultStore

__all__ = ["ALL_CLASSES", "Action", "ActionPolicy", "Entry", "InMemoryVaultStore", "PlaceholderMap", "Redaction",
           "Restorer", "StreamingRedactor", "StreamingRestorer", "Vault", "VaultBusy", "VaultCipher", "VaultError",
           "VaultStore", "classes_in_json", "label_for", "mask", "mask_json", "redact", "restore"]
