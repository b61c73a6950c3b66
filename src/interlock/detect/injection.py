"""Prompt-injection flagging: instruction-like text in what a tool returned.

A tool's output is data, yet a model reads it like everything else in its context, so a web page, an
e-mail or a ticket that says "ignore all previous instructions" speaks to the model with the tool's
authority. This recognizer finds such text in tool results (and only there: a user giving the model
instructions is the point of a prompt) and reports it as class ``threat.prompt_injection``; what then
happens to it (flag and pass, redact, block) is a policy decision like any other data class.

The design is scored, like a spam filter: each rule is a whole-word RE2 pattern with a weight. Strong
rules ("ignore all previous instructions", chat-template role tokens) flag a text on their own; weak ones
("you are now a ...", a mention of the system prompt) only together with another signal, so ordinary
prose ("You are now logged in", "the system prompt is configured in ...") is not flagged. Weights combine
as independent evidence: ``1 - prod(1 - w)``. A few rules name what, right after a match, means it is
ordinary prose ("disregard the above message, it was sent in error"). Every pattern is RE2, so scanning
is linear in the input whatever the input is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from interlock.detect.detector import resolve_overlaps
from interlock.detect.finding import Finding
from interlock.detect.recognizer import compile_re2

PROMPT_INJECTION = "threat.prompt_injection"

# A text is flagged when its combined score reaches this.
THRESHOLD = 0.5
# How far after a match the "ordinary prose" check reads.
_FOLLOW_CHARS = 64
# The longest span reported (the rules are bounded well below this; a guard, not a limit that matters).
_MAX_SPAN = 400

_ADJECTIVES = r"(?:previous|prior|above|earlier|preceding|former|original|initial|existing|system|developer|safety|old)"
# Not "message": "disregard the previous message" is how e-mail apologises for a wrong one.
_RULE_NOUNS = (r"(?:instructions?|prompts?|directions?|directives?|rules|guidelines|context|commands?|guidance|"
               r"constraints|policies|programming|orders)")
_DETERMINERS = r"(?:the|your|my|these|those|its|their|our|all|any|every|each|of)"
_AI = r"(?:ai|a\.i\.|llm|assistant|model|chatbot|chat\s?bot|language\s+model|agent|gpt|chatgpt|claude|copilot)"
_SENSITIVE = (r"(?:conversation|chat\s+history|history|credentials?|passwords?|api\s+keys?|keys|tokens?|secrets?|"
              r"system\s+prompt|prompt|instructions|context|user\s+data|personal\s+data|customer\s+data|"
              r"private\s+data|session\s+data|messages)")
_DESTINATION = (r"(?:https?://|www\.|[a-z0-9._%+-]+@[a-z0-9-]+\.|the\s+following\s+(?:address|url|endpoint|email)|"
                r"this\s+(?:address|url|endpoint|webhook|server))")


@dataclass(frozen=True, slots=True)
class Rule:
    """One signal. ``unless_followed_by``: an RE2 pattern that, matching right after, means ordinary prose."""

    name: str
    regex: str
    weight: float
    unless_followed_by: str | None = None


RULES: tuple[Rule, ...] = (
    Rule("override previous instructions",
         rf"\b(?:ignore|disregard|forget|override|bypass|skip|abandon)\s+(?:{_DETERMINERS}\s+){{0,3}}"
         rf"(?:{_ADJECTIVES}\s+){{1,2}}{_RULE_NOUNS}\b", 0.9),
    Rule("ignore everything before",
         r"\b(?:ignore|disregard|forget)\s+(?:all|everything|anything)\s+(?:(?:that\s+)?(?:you(?:\s+were|\s+have\s+been|"
         r"['’]ve\s+been)\s+)?(?:written|said|stated|mentioned|told|given)\s+)?(?:above|before|previously|so\s+far|"
         r"up\s+to\s+now|until\s+now|prior\s+to\s+this)\b", 0.85),
    Rule("disregard the above",
         r"\b(?:ignore|disregard|forget)\s+(?:all\s+)?(?:of\s+)?the\s+above\b", 0.7,
         unless_followed_by=r"(?i)\s*(?:message|e-?mail|mail|note|typo|mistake|error|attachment|link|post|comment|"
                            r"reply|version|draft|invoice|,?\s*(?:it\s+was\s+|this\s+was\s+)?sent\s+(?:in|by)\s+"
                            r"(?:error|mistake))\b"),
    Rule("new instructions",
         r"\b(?:new|real|actual|true|hidden|secret|overriding|priority)\s+(?:system\s+)?(?:instructions?|"
         r"directives?|orders)\s*(?::|-{1,2}\s|follow\b)", 0.6),
    Rule("chat template role token",
         r"<\|(?:im_start|im_end|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|"
         r"eot_id)\|>|\[/?INST\]|<</?SYS>>|<start_of_turn>|<end_of_turn>", 0.95),
    Rule("fake role turn",
         r"(?m)^[ \t]*(?:#{1,3}[ \t]*)?(?:system|developer)[ \t]*(?:message|prompt|note|override)?[ \t]*:", 0.35),
    Rule("system prompt mentioned",
         r"\b(?:system|developer|hidden|initial|original)\s+prompt\b", 0.4),
    Rule("reveal the prompt",
         r"\b(?:reveal|print|show|output|repeat|display|leak|dump|disclose|expose|share|tell\s+me|give\s+me|"
         r"return)\s+(?:me\s+)?(?:your|the)\s+(?:full\s+|entire\s+|complete\s+|exact\s+|original\s+)?"
         r"(?:system\s+prompt|initial\s+prompt|hidden\s+prompt|instructions\s+above|system\s+instructions|"
         r"hidden\s+instructions)\b", 0.85),
    Rule("you are now (mode)",
         r"\byou\s+are\s+now\s+(?:in\s+)?(?:developer|god|admin|jailbreak|jailbroken|unrestricted|unfiltered|dan|"
         r"debug|sudo|root)(?:\s+mode)?\b", 0.85),
    Rule("you are now (persona)",
         r"\byou\s+are\s+now\s+(?:a|an|the|my|no\s+longer|free|acting|going\s+to\s+act|operating)\b", 0.4),
    Rule("from now on you",
         r"\bfrom\s+now\s+on,?\s+(?:you|the\s+assistant|the\s+ai)\s+(?:will|must|are|should|shall|can)\b", 0.5),
    Rule("pretend to be",
         r"\b(?:pretend|act)\s+(?:to\s+be|you\s+are|as\s+if\s+you\s+(?:are|were))\b", 0.3),
    Rule("keep it from the user",
         r"\b(?:do\s+not|don't|dont|never)\s+(?:tell|inform|alert|notify|warn|let)\s+(?:the\s+)?"
         r"(?:user|human|customer|operator)\b", 0.8,
         unless_followed_by=r"['’]s\b"),
    Rule("without telling the user",
         r"\b(?:without|before)\s+(?:telling|informing|alerting|notifying|asking|warning)\s+(?:the\s+)?"
         r"(?:user|human|customer|operator)\b", 0.7,
         unless_followed_by=r"['’]s\b"),
    Rule("keep this secret",
         r"\bkeep\s+(?:this|it|these\s+instructions)\s+(?:secret|hidden|confidential)\s+from\s+(?:the\s+)?"
         r"(?:user|human|customer)\b", 0.8),
    Rule("addressed to the model",
         rf"\b(?:attention|note|message|instructions?|important)\s+(?:to|for)\s+(?:the\s+|any\s+)?{_AI}\b", 0.6,
         unless_followed_by=r"(?i)\s+(?:manager|director|professor|coach|editor|principal|engineer|team)\b"),
    Rule("if you are an AI",
         rf"\bif\s+you\s+are\s+(?:an?\s+)?{_AI}\b", 0.6),
    Rule("send sensitive data out",
         rf"\b(?:send|forward|e-?mail|mail|post|upload|transmit|exfiltrate|leak|copy|submit|share)\s+"
         rf"(?:(?:all|the|this|these|any|your|every|our|my|of)\s+){{0,3}}{_SENSITIVE}\s+(?:\S+\s+){{0,3}}?"
         rf"to\s+{_DESTINATION}", 0.75),
    Rule("send data out",
         rf"\b(?:send|forward|post|upload|transmit|exfiltrate)\s+(?:(?:all|the|this|these|any|every|of)\s+){{0,3}}"
         rf"(?:data|information|info|details|files|contents)\s+(?:\S+\s+){{0,3}}?to\s+{_DESTINATION}", 0.45),
    Rule("templated image link",
         r"!\[[^\]\n]{0,200}\]\(\s*https?://[^\s)]{1,300}[?&][a-z0-9_.-]{1,50}=(?:\{|%7b|\$|<)", 0.8),
)

# Cheap pre-check: a text holding none of these (lower-cased) cannot match any rule.
_KEYWORDS = ("ignore", "disregard", "forget", "override", "bypass", "skip", "abandon", "instruction", "directive",
             "orders", "<|", "inst]", "<<sys", "_of_turn>", "system", "developer", "prompt", "you are now",
             "from now on", "pretend", "act ", "tell", "inform", "alert", "notify", "warn", "let ", "without",
             "before", "keep", "attention", "note", "message", "important", "if you are", "send", "forward",
             "mail", "post", "upload", "transmit", "exfiltrate", "leak", "copy", "submit", "share", "![")


class PromptInjectionRecognizer:
    """Built once; :meth:`scan` runs precompiled RE2 programs and is safe to share between tasks."""

    name = "prompt_injection"
    data_class = PROMPT_INJECTION

    def __init__(self, rules: tuple[Rule, ...] = RULES, threshold: float = THRESHOLD) -> None:
        self._rules = tuple(
            (rule, compile_re2(rule.regex, case_insensitive=True),
             compile_re2(rule.unless_followed_by, case_insensitive=True) if rule.unless_followed_by else None)
            for rule in rules)
        self.threshold = threshold

    def scan(self, text: str) -> list[Finding]:
        """One finding per matched signal when the text's combined score reaches the threshold; else none."""
        if not text:
            return []
        lowered = text.lower()
        if not any(k in lowered for k in _KEYWORDS):
            return []
        hits: list[tuple[int, int, Rule]] = []
        for rule, regex, follow in self._rules:
            for match in regex.finditer(text):
                start, end = match.span()
                if end <= start or end - start > _MAX_SPAN:
                    continue
                if follow is not None and follow.match(text[end:end + _FOLLOW_CHARS]):
                    continue
                hits.append((start, end, rule))
        if not hits:
            return []
        names = sorted({rule.name for _, _, rule in hits})
        score = combined({rule.name: rule.weight for _, _, rule in hits}.values())
        if score < self.threshold:
            return []
        why = "instruction-like text in a tool result: " + ", ".join(names)
        # Overlapping signals (one phrase can match two rules) are reported once, as the longest span.
        return resolve_overlaps([Finding(PROMPT_INJECTION, start, end, round(score, 3), self.name,
                                         f"{rule.name}; {why}") for start, end, rule in hits])

    def flags(self, text: str) -> list[str]:
        """The names of the signals that flag ``text`` (empty: not flagged)."""
        return sorted({f.explanation.split(";", 1)[0] for f in self.scan(text)})


def combined(weights: Iterable[float]) -> float:
    """Independent evidence: the chance that at least one signal is right."""
    miss = 1.0
    for weight in weights:
        miss *= 1.0 - weight
    return 1.0 - miss
