"""What a secret looks like: provider key formats, private keys, and secrets in known positions.

Each :class:`SecretPattern` finds one type of secret in text; the part to hide is the ``secret`` group (or the
whole match). Patterns run in order, most specific first, so ``OPENAI_API_KEY=sk-...`` is counted as an
``openai-key``, not as an ``env-secret``. Text already replaced (``[REDACTED:type]``) is never matched again.
The rules and their known false positives are documented in ``spec/redaction.md``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

PLACEHOLDER_PREFIX = "[REDACTED:"


def placeholder(kind: str) -> str:
    return f"{PLACEHOLDER_PREFIX}{kind}]"


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text``'s own character distribution."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values()) if text else 0.0


def looks_random(value: str) -> bool:
    """Long, mixed-case, with digits, and high in entropy: a generated token rather than a word or a hash."""
    return (len(value) >= 20 and shannon_entropy(value) >= 3.5 and any(c.isdigit() for c in value)
            and any(c.islower() for c in value) and any(c.isupper() for c in value))


def is_real_value(value: str) -> bool:
    """Not empty, not a reference (``$VAR``, ``${VAR}``, ``<your-key>``, ``{key}``) and not a mask (``****``)."""
    return (len(value) >= 6 and not value.startswith(("$", "<", "{", "%", "os.", "process.", PLACEHOLDER_PREFIX))
            and len(set(value)) > 2 and value.lower() not in NOT_SECRETS)


NOT_SECRETS = frozenset({"none", "null", "undefined", "changeme", "your_api_key", "your-api-key", "redacted",
                         "example", "placeholder", "dummy", "xxxxxx", "password", "secret", "string", "optional",
                         "required", "default"})


@dataclass(frozen=True)
class SecretPattern:
    kind: str
    """The placeholder's type: ``[REDACTED:<kind>]``."""
    regex: re.Pattern[str]
    hints: tuple[str, ...]
    """Text without any of these substrings cannot match (lower case for case-insensitive patterns): a fast
    ``in`` test that spares most strings the regex."""
    accept: Callable[[str], bool] | None = None
    """An extra test of the matched secret (entropy, not a reference...)."""

    def may_match(self, text: str, lowered: str) -> bool:
        haystack = lowered if self.regex.flags & re.IGNORECASE else text
        return any(hint in haystack for hint in self.hints)

    def redact(self, text: str, counts: Counter[str]) -> str:
        def replace(match: re.Match[str]) -> str:
            group = "secret" if "secret" in self.regex.groupindex else 0
            start, end = match.span(group)
            if end - start >= 2 and match.string[start] in "\"'" and match.string[end - 1] == match.string[start]:
                start, end = start + 1, end - 1  # keep the quotes around a quoted value
            value = match.string[start:end]
            if value.startswith(PLACEHOLDER_PREFIX) or (self.accept and not self.accept(value)):
                return match.group(0)
            counts[self.kind] += 1
            whole, offset = match.group(0), match.start()
            return whole[:start - offset] + placeholder(self.kind) + whole[end - offset:]

        return self.regex.sub(replace, text)


def _p(kind: str, pattern: str, hints: tuple[str, ...], accept: Callable[[str], bool] | None = None) -> SecretPattern:
    return SecretPattern(kind, re.compile(pattern), hints, accept)


_HAS_DIGIT = r"(?=[A-Za-z0-9_-]*[0-9])"
_SECRET_WORDS = ("API_KEY", "APIKEY", "ACCESS_KEY", "ACCESSKEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD",
                 "PASSPHRASE", "CREDENTIAL", "PRIVATE_KEY", "PRIVATEKEY", "AUTH")
_END = r"(?![A-Za-z0-9_-])"
_AWS_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA")

PATTERNS: tuple[SecretPattern, ...] = (
    _p("private-key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
                      r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s\\:,-]*)",
       ("PRIVATE KEY",)),
    _p("anthropic-key", r"\bsk-ant-[A-Za-z0-9_-]{20,}" + _END, ("sk-ant-",)),
    _p("openai-key", r"\bsk-(?:proj-|svcacct-|admin-|None-)?" + _HAS_DIGIT + r"[A-Za-z0-9_-]{20,}" + _END, ("sk-",)),
    _p("stripe-key", r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b", ("k_live_", "k_test_")),
    _p("aws-access-key", r"\b(?:" + "|".join(_AWS_PREFIXES) + r")[0-9A-Z]{16}\b", _AWS_PREFIXES),
    _p("aws-secret-key", r"(?i)aws_?secret_?access_?key[\"']?(?:\s*[:=]|\s)\s*[\"']?(?P<secret>[A-Za-z0-9/+=]{40})"
                         r"(?![A-Za-z0-9/+=])", ("secret",)),
    _p("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b",
       ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    _p("gitlab-token", r"\bglpat-[A-Za-z0-9_-]{20,}" + _END, ("glpat-",)),
    _p("slack-token", r"\bxox[abposre]-[A-Za-z0-9-]{10,}" + _END, ("xox",)),
    _p("slack-webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,}", ("hooks.slack.com",)),
    _p("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}" + _END, ("AIza",)),
    _p("huggingface-token", r"\bhf_(?=[A-Za-z]*[0-9])[A-Za-z0-9]{30,}\b", ("hf_",)),
    _p("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", ("eyJ",)),
    _p("url-credentials", r"\b[a-z][a-z0-9+.-]*://[^\s:/@\"']+:(?P<secret>[^\s@/\"']{3,})@[A-Za-z0-9.-]+", ("://",),
       lambda v: not v.startswith(("$", "{", "<")) and v != "x-oauth-basic"),
    _p("auth-header", r"(?i)\b(?:authorization|proxy-authorization)[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token)\s+"
                      r"(?P<secret>[A-Za-z0-9._~+/=-]{8,})", ("authorization",)),
    _p("auth-header", r"(?i)\b(?:x-api-key|api-key|x-auth-token|x-goog-api-key)[\"']?\s*[:=]\s*[\"']?"
                      r"(?P<secret>[A-Za-z0-9._~+/=-]{16,})", ("api-key", "auth-token")),
    # KEY=value in env dumps, .env files and shell: the name says it is a secret.
    _p("env-secret", r"(?<![^\s;+-])(?:export\s+)?[A-Z0-9_]*(?:" + "|".join(_SECRET_WORDS) + r")[A-Z0-9_]*"
                     r"=(?P<secret>\"[^\"\n]*\"|'[^'\n]*'|[^\s\"'`;|&)]+)", _SECRET_WORDS, is_real_value),
    # name = "literal" in code and config, and "name": "value" in JSON/YAML.
    _p("secret-assignment", r"(?i)(?:api_?key|secret_?key|client_?secret|access_?token|auth_?token|"
                            r"password|passwd|private_?key)[\"']?\s*[:=]\s*(?P<secret>\"[^\"\n]+\"|'[^'\n]+')",
       ("key", "secret", "token", "passw"), is_real_value),
    # Env dumps, .env files, shell: any VAR=value whose value looks generated.
    _p("high-entropy", r"(?<![^\s;+-])(?:export\s+)?[A-Z][A-Z0-9_]*="
                      r"(?P<secret>[A-Za-z0-9+/=_.~-]{20,})(?=$|[\s\"'`;,)])", ("=",), looks_random),
)

SECRET_FIELD = re.compile(r"(?i)^(?:.*[_-])?(?:api[_-]?key|secret(?:[_-]?key)?|token|access[_-]?token|auth[_-]?token|"
                          r"password|passwd|private[_-]?key|client[_-]?secret|credentials?)$")
"""A mapping key whose string value is a secret, wherever it appears (``{"api_key": "..."}``)."""


def redact_text(text: str, counts: Counter[str]) -> str:
    """``text`` with every secret replaced by its typed placeholder; ``counts`` gains one per secret."""
    lowered = text.lower()
    for pattern in PATTERNS:
        if pattern.may_match(text, lowered):
            text = pattern.redact(text, counts)
    return text
