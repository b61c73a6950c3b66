"""Passwords in config-like text, connection strings and URLs that carry credentials."""

from __future__ import annotations

from interlock.detect.recognizer import Opener, Pattern, Recognizer

_DB_SCHEMES = ("postgres", "postgresql", "mysql", "mariadb", "mongodb", "mongodb+srv", "redis", "rediss",
               "amqp", "amqps", "mssql", "sqlserver", "oracle", "jdbc:", "clickhouse", "cockroachdb",
               "snowflake", "couchdb", "neo4j", "cassandra")
_PLACEHOLDER_HINTS = ("environ", "getenv", "secret(", "vault", "process.env", "<", "${", "{{", "%(", "xxx",
                      "***", "redacted", "changeme", "example", "dummy", "placeholder", "your_",
                      "[")


def looks_like_placeholder(value: str) -> bool:
    lowered = value.lower()
    return len(set(lowered)) <= 2 or any(h in lowered for h in _PLACEHOLDER_HINTS)


_PASSWORD_KEYS = ("password|passwd|pass|pwd|passphrase|passwort|kennwort|contraseña|contrasena|mot de passe|"
                  "senha|wachtwoord|hasło|haslo|heslo|jelszó|salasana|lösenord|passord|adgangskode|secret|"
                  "client_secret|secret_key")


# Prefixes written straight onto the key ("PGPASSWORD", "dbpass"); any other prefix ends in "_", "-" or "."
# ("MYSQL_ROOT_PASSWORD"), so "compass" and "bypass" are not keys.
_GLUED_PREFIXES = "pg|mysql|db|root|admin|user|app|smtp|mail|redis|ftp|sftp|wifi|vpn|ldap|bind|my|new|old"


class PasswordRecognizer(Recognizer):
    name = "password"
    data_class = "secret.password"
    max_len = 128
    keywords = ("pass", "pwd", "secret", "kennwort", "mot de passe", "contrase", "senha", "wachtwoord", "hasł",
                "hasl", "heslo", "jelsz", "salasana", "lösenord", "adgangskode", "mysql", "mariadb")
    # The key word, then at most two whitespace runs (around the separator) before a value without any;
    # a database client's "-p" flag comes at most 80 characters after the client's name.
    openers = (Opener("pass|pwd|secret|kennwort|contrase|senha|wachtwoord|has[lł]o|heslo|jelsz|salasana|"
                      "l[oö]senord|adgangskode", gaps=2, pending=""),
               Opener("mysql|mariadb", reach=230, pending=""))
    lookbehind = 50
    patterns = (
        Pattern(
            "password assignment",
            # The key may carry a prefix ("PGPASSWORD", "MYSQL_ROOT_PASSWORD", "db.password").
            rf"(?i:\b(?:[a-z0-9][a-z0-9_\-.]{{0,30}}[_\-.]|{_GLUED_PREFIXES})?(?:{_PASSWORD_KEYS})[\"']?"
            r"\s{0,16}(?:[:=]|=>|:=|\bis\b)\s{0,16})"
            r"(?:\"([^\"\s]{4,128})\"|'([^'\s]{4,128})'|([^\s\"',;]{4,128}))",
            0.85,
            group=-1,
        ),
        Pattern(
            "password option",
            # Command lines: "--password hunter2", "--db-password=...", "-p'...'" after a database client.
            r"(?i:(?:^|\s)--?[a-z\-]{0,24}(?:password|passwd|pass|pwd)(?:=|\s{1,4}))"
            r"(?:\"([^\"\s]{4,128})\"|'([^'\s]{4,128})'|([^\s\"'\-][^\s\"']{3,127}))",
            0.85,
            group=-1,
        ),
        Pattern(
            "database client password flag",
            r"(?i:\b(?:mysql|mysqldump|mysqladmin|mariadb)\b[^\n]{0,80}?\s-p)"
            r"(?:\"([^\"\s]{4,128})\"|'([^'\s]{4,128})'|([^\s\"'\-][^\s\"']{3,127}))",
            0.85,
            group=-1,
        ),
    )

    def validate(self, value: str, pattern: Pattern) -> float | None:
        return None if looks_like_placeholder(value) else pattern.score


class ConnectionStringRecognizer(Recognizer):
    """Database URLs with a password, and key=value connection strings that carry a secret."""

    name = "connection_string"
    data_class = "secret.connection_string"
    max_len = 512
    keywords = ("://", "password=", "pwd=", "accountkey=", "sharedaccesskey=")
    case_insensitive = True
    openers = (
        # The scheme (at most 28 characters) comes before "://"; a URL has no whitespace.
        Opener("://", lead=28, gaps=0, reach=512, pending=""),
        Opener(r"(?:server|data source|host|endpoint|defaultendpointsprotocol|accountname|user id|uid)\s{0,16}=",
               reach=512, pending=r"(?:server|data|data source|host|endpoint|defaultendpointsprotocol|accountname|"
                                  r"user|user id|uid)\s{1,16}"),
    )
    patterns = (
        Pattern(
            "database URL with credentials",
            r"\b(?:" + "|".join(s.replace("+", "\\+").replace(":", "") for s in _DB_SCHEMES) + r")"
            r"(?::[a-z0-9]{2,16})?://[^\s:/@\"']{1,128}:[^\s@\"']{1,128}@[^\s/?#\"',;]{1,255}(?:/[^\s\"',;?#]{0,128})?",
            0.95,
        ),
        Pattern(
            "key=value connection string",
            r"(?:\b(?:server|data source|host|endpoint|defaultendpointsprotocol|accountname|user id|uid)\s{0,16}=[^;\n]{1,100};)"
            r"(?:[^;\n]{1,100};){0,8}?\s{0,16}(?:password|pwd|accountkey|sharedaccesskey)\s{0,16}=[^;\n\"']{4,200}"
            r"(?:;[^;\n\"']{1,100}){0,6}",
            0.9,
        ),
    )


class UrlCredentialsRecognizer(Recognizer):
    """Any other ``scheme://user:password@host`` URL; the span covers the user-info and host."""

    name = "url_credentials"
    data_class = "secret.url_credentials"
    max_len = 400
    keywords = ("://",)
    openers = (Opener("://", gaps=0, reach=403, pending=""),)
    lookbehind = 24
    patterns = (
        Pattern(
            "URL with user-info",
            r"\b[A-Za-z][A-Za-z0-9+.\-]{1,20}://([^\s:/@\"'<>]{1,128}:[^\s@/\"'<>]{1,128}@[^\s/?#\"'<>]{1,255})",
            0.9,
            group=1,
        ),
    )

    def validate(self, value: str, pattern: Pattern) -> float | None:
        password = value.split("@", 1)[0].split(":", 1)[1]
        return None if looks_like_placeholder(password) else pattern.score
