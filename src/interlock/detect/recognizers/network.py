"""IP addresses (v4 and v6) and MAC addresses."""

from __future__ import annotations

import ipaddress

from interlock.detect.recognizer import Pattern, Recognizer

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"


class IPv4Recognizer(Recognizer):
    """Dotted quads. Version strings look the same, so a ``v`` prefix or version words nearby reject
    or demote them; ``0.0.0.0``-style unspecified addresses carry no information and are skipped."""

    name = "ipv4"
    data_class = "net.ip_address"
    max_len = 18
    single_token = True
    patterns = (
        Pattern("IPv4 address", rf"(?:^|[^\w.])({_OCTET}(?:\.{_OCTET}){{3}}(?:/\d{{1,2}})?)(?:[^\w.]|\.\s|\.$|$)",
                0.75, group=1),
    )
    context = ("ip", "ip address", "address", "host", "server", "client", "source", "src", "dst", "gateway",
               "ipv4", "connected", "from", "login")
    negative_context = ("version", "ver", "release", "build", "firmware", "sdk", "package", "oid", "snmp")
    rejected_after = frozenset({"version", "ver", "v", "release", "build", "firmware", "oid", "tag", "chapter",
                                "section", "rev", "revision"})

    def validate(self, value: str, pattern: Pattern) -> float | None:
        address = value.split("/")[0]
        if address in ("0.0.0.0", "255.255.255.255"):
            return None
        return pattern.score


class IPv6Recognizer(Recognizer):
    """Colon-hex groups, confirmed by the standard library parser (no regex involved there)."""

    name = "ipv6"
    data_class = "net.ip_address"
    max_len = 45
    single_token = True
    keywords = (":",)
    patterns = (
        Pattern(
            "IPv6 address",
            r"(?:^|[^\w:])((?:[0-9A-Fa-f]{1,4}:|:){1,7}(?::|[0-9A-Fa-f]{1,4})(?:%[0-9A-Za-z]{1,16})?"
            r"(?:(?:\.\d{1,3}){3})?)(?:[^\w:]|$)",
            0.8,
            group=1,
        ),
    )
    context = ("ip", "ipv6", "address", "host", "server", "client", "source", "gateway")

    def validate(self, value: str, pattern: Pattern) -> float | None:
        try:
            address = ipaddress.IPv6Address(value.split("%")[0])
        except ValueError:
            return None
        groups = [g for g in value.split(":") if g]
        if len(groups) < 2 or address.is_unspecified:
            return None
        return pattern.score


class MacAddressRecognizer(Recognizer):
    name = "mac_address"
    data_class = "net.mac_address"
    max_len = 17
    single_token = True
    patterns = (
        Pattern("MAC address (colons)", r"\b[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}\b", 0.8),
        Pattern("MAC address (dashes)", r"\b[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}\b", 0.8),
        Pattern("MAC address (Cisco dots)", r"\b[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\b", 0.6),
    )
    context = ("mac", "mac address", "hardware address", "ethernet", "wifi", "nic", "bssid", "device")

    def validate(self, value: str, pattern: Pattern) -> float | None:
        hex_digits = "".join(ch for ch in value if ch not in ":-.")
        if len(set(hex_digits.lower())) < 2:
            return None
        # A Cisco-style triple of pure digits is far more often a version or a part number.
        if "." in value and hex_digits.isdigit():
            return None
        return pattern.score
