"""One message catalogue for every word a person reads: CLI, reports, web page, and the
engine's explanations and reasons.

The catalogue is data: `symbiosis/i18n/*.json`, one file per domain (`reasons.json`,
`report.json`, `web.json`, `cli.json` ...), each mapping a message key to its text in every
language, e.g. ``"reason.beyond_reach": {"en": "...{km}...", "zh": "...{km}..."}``. Keys are
unique across files. Placeholders use `str.format` syntax and must be the same in every
language (the test suite checks it). The web page fetches the same catalogue from the HTTP API,
so a label is written once.

    >>> t("reason.beyond_reach", "zh", km=212.0, reach=150)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import string
from functools import cache
from importlib import resources
from typing import Any, Literal

__all__ = ["LANGS", "Lang", "catalogue", "check_catalogue", "t"]

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every message: key -> {lang: text}, merged from the domain files.

    Raises:
        ValueError: a key defined in two files.
    """
    merged: dict[str, dict[str, str]] = {}
    folder = resources.files(__name__)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        data: dict[str, dict[str, str]] = json.loads(entry.read_text(encoding="utf-8"))
        for key, texts in data.items():
            if key.startswith("_"):  # "_comment" entries document the file
                continue
            if key in merged:
                raise ValueError(f"message key '{key}' is defined twice ({entry.name})")
            merged[key] = texts
    return merged


def t(key: str, lang: str = "en", /, **params: Any) -> str:
    """The message `key` in `lang` (English where the language lacks it), formatted with
    `params`. An unknown key is returned as it is, so a missing message shows, not crashes."""
    texts = catalogue().get(key)
    if texts is None:
        return key
    text = texts.get(lang) or texts.get("en") or key
    return text.format(**params) if params else text


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def check_catalogue() -> list[str]:
    """Problems in the catalogue: a language missing, or placeholders that differ."""
    problems: list[str] = []
    for key, texts in catalogue().items():
        missing = [lang for lang in LANGS if not texts.get(lang)]
        if missing:
            problems.append(f"{key}: no text in {', '.join(missing)}")
            continue
        if len({frozenset(_fields(texts[lang])) for lang in LANGS}) > 1:
            problems.append(f"{key}: placeholders differ between languages")
    return problems
