"""Reading policy files: ids, source lines and load errors that point at the file and line.

Cedar's parser reports what went wrong but not where, so the text is split into statements here
(respecting strings and comments) and the failing statement is narrowed down to its line.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import cedarpy
from cedarpy import pst


class PolicyLoadError(Exception):
    """A policy set that cannot be loaded: syntax, schema or id problems, each with file and line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class PolicySource:
    """One policy as written: its id, file, first line and text."""

    id: str
    file: str
    line: int
    text: str
    effect: str


@dataclass(frozen=True, slots=True)
class _Statement:
    line: int
    text: str


def split_statements(text: str) -> list[_Statement]:
    """Split Cedar text at top-level `;`, keeping each statement's first line."""
    out: list[_Statement] = []
    start: int | None = None
    line = 1
    start_line = 1
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch == "/" and text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch.isspace():
            pass
        else:
            if start is None:
                start, start_line = i, line
            if ch == '"':
                i += 1
                while i < n and text[i] != '"':
                    if text[i] == "\\":
                        i += 1
                    elif text[i] == "\n":
                        line += 1
                    i += 1
            elif ch == ";":
                out.append(_Statement(start_line, text[start:i + 1]))
                start = None
        i += 1
    if start is not None:
        out.append(_Statement(start_line, text[start:]))
    return out


_EOF = re.compile(r"end of input|unexpected end", re.IGNORECASE)
_UNEXPECTED = re.compile(r"unexpected token `([^`]+)`")


def _parse_error_line(statement: _Statement, message: str) -> int:
    """The line inside a failing statement where the parser's error is.

    Growing prefixes of the statement are parsed; while a prefix merely stops early the parser reports
    the end of input, so the first prefix that fails with the statement's own error holds the fault. The
    parser needs one token of lookahead, so an unexpected token is looked for on that line or above.
    """
    lines = statement.text.split("\n")
    found = len(lines)
    for k in range(1, len(lines) + 1):
        try:
            cedarpy.PolicySet.from_str("\n".join(lines[:k]))
        except ValueError as exc:
            if str(exc) == message or not _EOF.search(str(exc)):
                found = k
                break
    token = _UNEXPECTED.search(message)
    if token:
        for k in range(found, 0, -1):
            if token.group(1) in lines[k - 1]:
                return statement.line + k - 1
    return statement.line + found - 1


def _locate_syntax_error(file: str, text: str, message: str) -> str:
    for statement in split_statements(text):
        try:
            cedarpy.PolicySet.from_str(statement.text)
        except ValueError as exc:
            line = _parse_error_line(statement, str(exc))
            return f"{file}:{line}: syntax error: {exc}"
    return f"{file}: syntax error: {message}"


def parse_file(file: str, text: str) -> tuple[list[pst.Template], list[PolicySource]]:
    """Parse one file; every policy gets its `@id` or `<file>#<index>` as its id."""
    try:
        parsed = cedarpy.PolicySet.from_str(text).to_pst()
    except ValueError as exc:
        raise PolicyLoadError([_locate_syntax_error(file, text, str(exc))]) from exc
    if parsed.templates:
        raise PolicyLoadError([f"{file}: templates (?principal / ?resource) are not supported; "
                               "write static policies"])
    statements = split_statements(text)
    templates: list[pst.Template] = []
    sources: list[PolicySource] = []
    for index in range(len(parsed.static_policies)):
        node = parsed.static_policies[f"policy{index}"]
        stem = Path(file).stem
        policy_id = node.annotations.get("id") or f"{stem}#{index}"
        statement = statements[index] if index < len(statements) else _Statement(1, "")
        templates.append(dataclasses.replace(node, id=policy_id))
        sources.append(PolicySource(policy_id, file, statement.line, statement.text, node.effect))
    return templates, sources


def validation_problems(file: str, text: str, sources: list[PolicySource],
                        schema: cedarpy.Schema) -> list[str]:
    """Schema violations in one file, each as `file:line: [policy id] reason`."""
    result = cedarpy.validate_policies(text, schema)
    problems: list[str] = []
    for error in result.errors:
        where = f"{file}"
        label = error.policy_id
        if error.policy_id.startswith("policy") and error.policy_id[6:].isdigit():
            index = int(error.policy_id[6:])
            if index < len(sources):
                where = f"{file}:{sources[index].line}"
                label = sources[index].id
        problems.append(f"{where}: [{label}] schema violation: {error.error}")
    return problems
