"""The built-in recognizers, in one explicit list built from the configuration."""

from __future__ import annotations

from interlock.detect.config import DetectionConfig
from interlock.detect.recognizer import Recognizer
from interlock.detect.recognizers.address import StreetAddressRecognizer
from interlock.detect.recognizers.bank import AbaRoutingRecognizer, BankAccountRecognizer
from interlock.detect.recognizers.card import CardNumberRecognizer
from interlock.detect.recognizers.credentials import (
    ConnectionStringRecognizer,
    PasswordRecognizer,
    UrlCredentialsRecognizer,
)
from interlock.detect.recognizers.custom import CustomPatternRecognizer
from interlock.detect.recognizers.dictionary import DictionaryRecognizer
from interlock.detect.recognizers.email import EmailRecognizer
from interlock.detect.recognizers.email_spelled import SpelledEmailRecognizer
from interlock.detect.recognizers.entropy import HighEntropySecretRecognizer
from interlock.detect.recognizers.iban import IbanRecognizer
from interlock.detect.recognizers.name_dictionary import NameDictionaryRecognizer
from interlock.detect.recognizers.names import PersonNameRecognizer
from interlock.detect.recognizers.national_ids import NATIONAL_ID_RECOGNIZERS
from interlock.detect.recognizers.network import IPv4Recognizer, IPv6Recognizer, MacAddressRecognizer
from interlock.detect.recognizers.password_prose import PasswordProseRecognizer
from interlock.detect.recognizers.personal import AgeRecognizer, DateOfBirthRecognizer
from interlock.detect.recognizers.phone import PhoneRecognizer
from interlock.detect.recognizers.private_key import PrivateKeyBodyRecognizer, PrivateKeyRecognizer
from interlock.detect.recognizers.provider_keys import (
    ChatBotTokenRecognizer,
    JwtRecognizer,
    ProviderKeyRecognizer,
    ProviderTokenRecognizer,
)


def build_recognizers(config: DetectionConfig) -> list[Recognizer]:
    recognizers: list[Recognizer] = [
        EmailRecognizer(),
        SpelledEmailRecognizer(),
        PhoneRecognizer(config.phone_regions),
        CardNumberRecognizer(),
        IbanRecognizer(),
        AbaRoutingRecognizer(),
        BankAccountRecognizer(),
        *(cls() for cls in NATIONAL_ID_RECOGNIZERS),
        IPv4Recognizer(),
        IPv6Recognizer(),
        MacAddressRecognizer(),
        DateOfBirthRecognizer(),
        AgeRecognizer(),
        StreetAddressRecognizer(),
        PersonNameRecognizer(),
        NameDictionaryRecognizer(),
        ProviderKeyRecognizer(),
        ProviderTokenRecognizer(),
        ChatBotTokenRecognizer(),
        JwtRecognizer(),
        PrivateKeyRecognizer(),
        PrivateKeyBodyRecognizer(),
        PasswordRecognizer(),
        PasswordProseRecognizer(),
        ConnectionStringRecognizer(),
        UrlCredentialsRecognizer(),
        HighEntropySecretRecognizer(),
    ]
    if config.dictionaries:
        recognizers.append(DictionaryRecognizer(config.dictionaries))
    recognizers.extend(CustomPatternRecognizer(spec, i) for i, spec in enumerate(config.custom_patterns))
    disabled = set(config.disabled)
    return [r for r in recognizers if r.name not in disabled]


__all__ = ["build_recognizers"]
