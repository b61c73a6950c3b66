"""Documents and how a directory source becomes them.

A document has an id unique in its source, a title, plain text and an access rule. In a directory,
Markdown and text files may carry the rule in YAML front matter (``access:``); any file may have a
sidecar ``<file name>.access.yaml``; ``_access.yaml`` in a directory applies to the files in it (and
below) that declare none; the source's ``default_access`` applies last. HTML is read with Beautiful
Soup and PDF with pypdf.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from interlock.knowledge.access import AccessRule, AccessRuleError

SIDE_SUFFIX = ".access.yaml"
DIRECTORY_RULE = "_access.yaml"
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html",
            ".pdf": "pdf"}


class DocumentError(ValueError):
    """A document that cannot be read; the message names the file and what to fix."""


@dataclass(frozen=True, slots=True)
class SourceDocument:
    id: str
    title: str
    text: str
    access: AccessRule
    uri: str = ""
    media_type: str = "text"

    @property
    def content_hash(self) -> str:
        """What decides whether a document must be chunked and embedded again: its title and text."""
        return hashlib.sha256(self.title.encode() + b"\0" + self.text.encode()).hexdigest()


def _front_matter(raw: str) -> tuple[dict[str, Any], str]:
    import frontmatter

    try:
        post = frontmatter.loads(raw)
    except Exception as exc:  # the parser raises YAML's and its own errors alike
        raise DocumentError(f"front matter is not valid YAML: {exc}") from None
    return dict(post.metadata), post.content


def _html(raw: bytes) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title is not None else ""
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return title, "\n".join(line for line in lines if line)


def _pdf(raw: bytes) -> tuple[str, str]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(raw))
    meta = reader.metadata
    title = str(meta.title) if meta is not None and meta.title else ""
    pages = [page.extract_text() or "" for page in reader.pages]
    return title, "\n\n".join(p.strip() for p in pages if p.strip())


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DocumentError(f"{path}: cannot read the access rule: {exc}") from None
    if not isinstance(raw, dict):
        raise DocumentError(f"{path}: an access rule is a mapping (principals, groups, roles, ...)")
    return raw


def read_file(path: Path, doc_id: str, default: AccessRule) -> SourceDocument:
    """One file as a document; its rule from front matter, else its sidecar, else ``default``."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(f"{path}: unsupported file type; use one of {sorted(SUFFIXES)}")
    raw = path.read_bytes()
    meta: dict[str, Any] = {}
    try:
        if kind == "html":
            title, text = _html(raw)
        elif kind == "pdf":
            title, text = _pdf(raw)
        else:
            meta, text = _front_matter(raw.decode("utf-8"))
            title = str(meta.get("title") or _first_heading(text))
    except DocumentError as exc:
        raise DocumentError(f"{path}: {exc}") from None
    except UnicodeDecodeError:
        raise DocumentError(f"{path}: not UTF-8 text") from None
    except Exception as exc:  # a broken PDF or HTML file is named, not a traceback
        raise DocumentError(f"{path}: cannot be read as {kind}: {type(exc).__name__}: {exc}") from None
    rule_raw = meta.get("access")
    sidecar = path.with_name(path.name + SIDE_SUFFIX)
    if rule_raw is None and sidecar.is_file():
        rule_raw = _read_yaml(sidecar)
    try:
        if rule_raw is None:
            access = default
        elif isinstance(rule_raw, dict):
            access = AccessRule.parse(rule_raw, default)
        else:
            raise AccessRuleError("'access' must be a mapping")
    except AccessRuleError as exc:
        raise DocumentError(f"{path}: {exc}") from None
    return SourceDocument(id=doc_id, title=title or path.stem, text=text.strip(), access=access,
                          uri=path.as_uri(), media_type=kind)


def read_directory(root: Path, default: AccessRule) -> Iterator[SourceDocument]:
    """Every supported file under ``root``, in path order; ids are paths relative to ``root``."""
    if not root.is_dir():
        raise DocumentError(f"{root}: the source's path is not a directory")
    rules: dict[Path, AccessRule] = {}

    def rule_for(directory: Path) -> AccessRule:
        if directory in rules:
            return rules[directory]
        parent = default if directory == root else rule_for(directory.parent)
        own = directory / DIRECTORY_RULE
        try:
            rule = AccessRule.parse(_read_yaml(own), parent) if own.is_file() else parent
        except AccessRuleError as exc:
            raise DocumentError(f"{own}: {exc}") from None
        rules[directory] = rule
        return rule

    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.endswith(SIDE_SUFFIX) or path.name == DIRECTORY_RULE:
            continue
        if path.suffix.lower() not in SUFFIXES:
            continue
        yield read_file(path, path.relative_to(root).as_posix(), rule_for(path.parent))
