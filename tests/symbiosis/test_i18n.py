"""The message catalogue: complete in every language, placeholders alike."""

from __future__ import annotations

from symbiosis.i18n import check_catalogue, t


def test_catalogue_is_complete_with_matching_placeholders() -> None:
    assert check_catalogue() == []


def test_lookup_falls_back_and_formats() -> None:
    assert t("reason.beyond_reach", "zh") == "超出运输半径"
    assert t("reason.beyond_reach", "fr") == "beyond reach"
    assert t("no.such.key", "zh") == "no.such.key"
