"""Characters that look like ASCII syntax but are not, as pasted from slides, PDFs and word
processors: U+2212 MINUS SIGN for `-`, a no-break space, full-width brackets, smart quotes,
zero-width spaces. Each maps to what to type instead ("" for: delete it)."""

from __future__ import annotations

import unicodedata

LOOKALIKES: dict[str, str] = {
    # minus signs and dashes
    "\u2212": "-", "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
    "\u2015": "-", "\ufe63": "-", "\uff0d": "-",
    # spaces
    "\u00a0": " ", "\u2000": " ", "\u2001": " ", "\u2002": " ", "\u2003": " ", "\u2004": " ",
    "\u2005": " ", "\u2006": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ", "\u200a": " ",
    "\u202f": " ", "\u205f": " ", "\u3000": " ",
    # invisible characters
    "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    # operators and brackets
    "\uff08": "(", "\uff09": ")", "\uff3b": "[", "\uff3d": "]", "\uff0c": ",", "\u3001": ",",
    "\uff1d": "=", "\uff5e": "~", "\u223c": "~", "\u02dc": "~", "\u301c": "~", "\uff0b": "+",
    "\u00d7": "*", "\u2217": "*", "\u22c5": "*", "\u00b7": "*", "\uff0a": "*", "\u2715": "*",
    "\u00f7": "/", "\u2215": "/", "\u2044": "/", "\uff0f": "/", "\uff3e": "^", "\uff1b": ";",
    "\uff03": "#", "\uff20": "@", "\uff0e": ".", "\u2024": ".", "\u2190": "=",
    # quotes (the language has none, but they are what was meant)
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    # full-width digits
    **{chr(0xFF10 + k): str(k) for k in range(10)},
}  # fmt: skip

# Line breaks other than \n (and \r\n): Python's splitlines() counts them, the grammar does not, so
# they would shift every later line number. Rejected anywhere, comments included.
LINE_BREAKS = {"\u2028": "a newline", "\u2029": "a newline", "\x85": "a newline", "\x0b": "a newline",
               "\x0c": "a newline", "\x1c": "a newline", "\x1d": "a newline", "\x1e": "a newline"}  # fmt: skip


def char_name(ch: str) -> str:
    """`U+2212 MINUS SIGN`."""
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')}"


def replacement_hint(ch: str) -> str | None:
    """What to type instead of a look-alike character, or None if it is not one."""
    if ch in LINE_BREAKS:
        return f"{char_name(ch)} is a line break the .mlm format does not use: replace it with {LINE_BREAKS[ch]}"
    if ch not in LOOKALIKES:
        return None
    ascii_ = LOOKALIKES[ch]
    if ascii_ == "":
        return f"{char_name(ch)} is invisible (pasted from a slide or PDF?): delete it"
    if ascii_ == " ":
        return f"{char_name(ch)} looks like a space: type an ASCII space instead"
    if ascii_ in "'\"":
        return f"{char_name(ch)} is a typographic quote, and .mlm has no strings: delete it"
    if ch == "\u2190":
        return f"{char_name(ch)} reads as R's `<-`: in .mlm, assignment is `=`"
    return f"{char_name(ch)} looks like `{ascii_}` but is not ASCII (pasted from a slide or PDF?): type `{ascii_}`"
