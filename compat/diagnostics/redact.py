"""Keep secrets and personal paths out of reports.

Reports get pasted into public issues. Everything a report holds passes through `scrub` on the way
out: the user's home folder becomes `~`, values of secret-looking environment variables (tokens,
keys, passwords) and strings shaped like well-known tokens become `[redacted]`, and credentials in
URLs are dropped. Reports never carry an environment dump in the first place; this is the second
line of defence for secrets that reach a report inside an error message or a path.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

REDACTED = "[redacted]"
# Environment variable names whose values are secrets.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH|COOKIE", re.I)
# Token shapes worth catching even when they did not come from the environment.
_TOKEN_SHAPES = re.compile(
    r"\bhf_[A-Za-z0-9]{20,}"  # Hugging Face
    r"|\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"  # GitHub
    r"|\bsk-[A-Za-z0-9_-]{20,}"  # OpenAI-style
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key id
    r"|\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"  # JWT
)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s:@]+(?::[^/\s@]*)?@", re.I)
_MIN_SECRET_LEN = 6


def _home_prefixes() -> list[str]:
    homes = {os.path.expanduser("~"), os.environ.get("HOME", ""), os.environ.get("USERPROFILE", "")}
    found: set[str] = set()
    for home in homes:
        if home and home not in ("/", "\\") and len(home) > 1:
            found.add(home.rstrip("/\\"))
            found.add(str(Path(home).resolve()).rstrip("/\\"))
    return sorted(found, key=len, reverse=True)


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names say they are secrets, longest first."""
    env = os.environ if environ is None else environ
    values = {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)


class Scrubber:
    """Scrubs strings (and nested dicts/lists) with the secrets known when it was made."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self._secrets = secret_values(environ)
        homes = _home_prefixes()
        # A home prefix only matches a whole path component: /home/al must not eat /home/alice.
        self._home = re.compile("|".join(re.escape(h) + r"(?=[/\\]|$|[^\w.-])" for h in homes)) if homes else None

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        value = _TOKEN_SHAPES.sub(REDACTED, value)
        value = _URL_CREDENTIALS.sub(lambda m: m.group("scheme") + REDACTED + "@", value)
        if self._home is not None:
            value = self._home.sub("~", value)
        return value

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self(k) if isinstance(k, str) else k: self(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self(v) for v in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.text(str(value))  # Paths and any other object: as text, scrubbed


def scrub(value: Any) -> Any:
    """Scrub with the current environment."""
    return Scrubber()(value)
