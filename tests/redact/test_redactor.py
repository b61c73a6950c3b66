from __future__ import annotations

import pytest

from interlock.detect import DetectionConfig, Detector
from interlock.errors import DataBlocked
from interlock.redact import ALL_CLASSES, ActionPolicy, PlaceholderMap, redact, restore


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DetectionConfig())


def test_redact_uses_stable_numbered_placeholders(detector: Detector) -> None:
    mapping = PlaceholderMap("c1")
    text = "a@example.com, b@example.com, a@example.com"
    out = redact(text, detector.scan(text), ActionPolicy(), mapping).text
    assert out == "[EMAIL_1], [EMAIL_2], [EMAIL_1]"
    later = "again a@example.com"
    assert redact(later, detector.scan(later), ActionPolicy(), mapping).text == "again [EMAIL_1]"


def test_mask_is_irreversible_and_card_keeps_last_four(detector: Detector) -> None:
    mapping = PlaceholderMap("c1")
    text = "card 4111 1111 1111 1234 mail a@example.com"
    text = "card 4111 1111 1111 1111 mail a@example.com"
    policy = ActionPolicy({"pci.card_number": "mask", "pii.email": "mask"})
    out = redact(text, detector.scan(text), policy, mapping).text
    assert out == "card ****1111 mail [REDACTED:EMAIL]"
    assert len(mapping) == 0


def test_allow_leaves_value(detector: Detector) -> None:
    text = "mail a@example.com"
    out = redact(text, detector.scan(text), ActionPolicy({"pii.*": "allow"}), PlaceholderMap("c"))
    assert out.text == text
    assert out.applied == ()


def test_block_names_class_never_value(detector: Detector) -> None:
    text = "key AKIAIOSFODNN7EXAMPLE"
    with pytest.raises(DataBlocked) as info:
        redact(text, detector.scan(text), ActionPolicy({"secret.*": "block"}), PlaceholderMap("c"))
    assert "secret.api_key" in info.value.message
    assert "AKIAIOSFODNN7EXAMPLE" not in info.value.message
    assert info.value.code == "data_blocked"


def test_restore_only_allowed_classes(detector: Detector) -> None:
    mapping = PlaceholderMap("c")
    text = "mail a@example.com card 4111111111111111"
    red = redact(text, detector.scan(text), ActionPolicy(), mapping).text
    assert red == "mail [EMAIL_1] card [CARD_1]"
    assert restore(red, mapping, {"pii.email"}) == "mail a@example.com card [CARD_1]"
    assert restore(red, mapping, ALL_CLASSES) == text
    assert restore("unknown [EMAIL_9] stays", mapping, ALL_CLASSES) == "unknown [EMAIL_9] stays"


def test_custom_class_label() -> None:
    mapping = PlaceholderMap("c")
    assert mapping.placeholder_for("custom.project-code", "x") == "[PROJECT_CODE_1]"


def test_action_policy_rejects_unknown_action() -> None:
    with pytest.raises(ValueError, match="must be one of"):
        ActionPolicy({"pii.email": "hide"})  # type: ignore[dict-item]


def test_cli_scan_output(detector: Detector) -> None:
    from interlock.redact.report import scan_report

    result = scan_report("mail a@example.com", detector, ActionPolicy())
    assert result["redacted"] == "mail [EMAIL_1]"
    assert result["counts"] == {"pii.email": 1}
    assert result["findings"][0]["start"] == 5
    assert "a@example.com" not in str(result["findings"])
