"""The CJK font the plots draw Chinese with, and the warning when there is none.

matplotlib ships no Chinese glyphs: without a CJK font every Chinese label is drawn as
boxes. The project installs Debian's `fonts-noto-cjk` (Noto Sans CJK, SIL Open Font
License 1.1) in `.ci/run` next to Chromium (see the README); any of `CJK_FAMILIES` works.
matplotlib's font list is cached when matplotlib first runs, so a font installed after that
is found by scanning the system font folders (`font_manager.findSystemFonts`) and added.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

__all__ = ["CJK_FAMILIES", "cjk_font", "no_cjk_font_message"]

log = logging.getLogger(__name__)

# families that draw simplified Chinese, most wanted first
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
                "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Microsoft YaHei", "SimHei",
                "PingFang SC", "Hiragino Sans GB", "AR PL UMing CN", "Droid Sans Fallback")
# file names of those families' font files (for fonts installed after matplotlib's cache)
_FILE_HINTS = ("notosanscjk", "notosanssc", "sourcehansans", "wqy", "msyh", "simhei",
               "pingfang", "hiragino", "uming", "droidsansfallback")


@cache
def cjk_font() -> str | None:
    """The family name of an installed font that draws Chinese, or None when there is none
    (then `no_cjk_font_message` says what to install)."""
    from matplotlib import font_manager

    def known() -> str | None:
        have = {f.name for f in font_manager.fontManager.ttflist}
        return next((w for w in CJK_FAMILIES if w in have), None)

    found = known()
    if found is None:
        for path in font_manager.findSystemFonts():
            if any(h in Path(path).name.lower().replace("-", "") for h in _FILE_HINTS):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError) as exc:  # an unreadable file
                    log.debug("cannot add font %s: %s", path, exc)
        found = known()
    return found


def no_cjk_font_message() -> str:
    """What the user is told when Chinese is asked for and no CJK font is installed."""
    return ("no CJK font found: Chinese text in plots falls back to English and Chinese in "
            "PDFs renders as boxes; install one (Debian/Ubuntu: apt-get install "
            "fonts-noto-cjk) or any of: " + ", ".join(CJK_FAMILIES[:4]))
