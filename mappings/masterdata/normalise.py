"""A customer's name and address in one spelling, so that two systems' records can be compared.

Each function takes what a system holds and returns lower-case ASCII words separated by one
space: ``ß`` -> ``ss``, accents dropped (``é`` -> ``e``, ``ü`` -> ``u``), and ``ae``, ``oe``,
``ue`` -> ``a``, ``o``, ``u``, so that an umlaut however spelt is one letter (``Müller``,
``Mueller`` and ``Muller`` are all ``muller``; ``Michael`` becomes ``michal`` on both sides
alike: the spelling is for comparing, never shown); dots removed (``G.m.b.H.`` -> ``gmbh``,
``Str.`` -> ``str``), ``&`` -> ``and``, other punctuation a space. Then one spelling per form:

- legal forms: ``Gesellschaft mbH``, ``Gesellschaft mit beschränkter Haftung``, ``GesmbH`` ->
  ``gmbh``; ``Aktiengesellschaft`` -> ``ag``; ``Limited`` -> ``ltd``; ``Incorporated`` ->
  ``inc``; ``Corporation`` -> ``corp``; ``Company`` -> ``co``;
- streets: ``Straße``, ``Strasse``, ``Str.`` -> ``str``, joined to the word before it
  (``Haupt Straße`` and ``Hauptstr.`` are both ``hauptstr``); ``Street`` -> ``st``, ``Road``
  -> ``rd``, ``Avenue`` -> ``ave``.

``core`` is a normalised name without its legal form and filler words: what blocking keys are
made of. Pure and deterministic; no function here reads anything but its argument.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["LEGAL_FORMS", "city", "core", "country", "name", "postal_code", "street"]

_PUNCTUATION = str.maketrans(
    {".": None, "'": None, "`": None}
    | {mark: " " for mark in '!"#$%()*+,-/:;<=>?@[\\]^_{|}~\t\n\r&'}
)
_UMLAUTS = (("ae", "a"), ("oe", "o"), ("ue", "u"))
_PHRASES = {
    "gesellschaft mit beschrankter haftung": "gmbh",  # spelt as _words spells it
    "gesellschaft mbh": "gmbh",
    "ges mbh": "gmbh",
    "gmbh and co kg": "gmbh co kg",
    "public ltd co": "plc",  # after the words' own spelling: limited -> ltd, company -> co
    "ltd liability co": "llc",
}
_PHRASE_STARTS = frozenset(phrase.split()[0] for phrase in _PHRASES)
_PHRASE = re.compile(r"\b(" + "|".join(re.escape(phrase) for phrase in _PHRASES) + r")\b")
_NAME_WORDS = {
    "gesmbh": "gmbh",
    "aktiengesellschaft": "ag",
    "limited": "ltd",
    "incorporated": "inc",
    "corporation": "corp",
    "company": "co",
    "und": "and",
}
_STREET_WORDS = {"street": "st", "road": "rd", "avenu": "ave", "strasse": "str"}  # as spelt
LEGAL_FORMS = frozenset(
    {"gmbh", "ag", "kg", "ohg", "ug", "se", "ltd", "plc", "llc", "inc", "corp", "co", "sa"}
)
"""The legal forms (normalised) that ``core`` leaves out."""
_FILLERS = LEGAL_FORMS | {"and", "the", "der", "die", "das"}


def _words(text: str | None) -> list[str]:
    if not text:
        return []
    if not text.isascii():
        text = text.replace("ß", "ss").replace("ẞ", "SS")
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = text.lower()
    if "e" in text:
        for spelt, letter in _UMLAUTS:
            text = text.replace(spelt, letter)
    return text.replace("&", " and ").translate(_PUNCTUATION).split()


def name(text: str | None) -> str:
    """A customer's name, normalised: ``Müller Haustechnik Gesellschaft mbH`` ->
    ``muller haustechnik gmbh``."""
    words = [_NAME_WORDS.get(word, word) for word in _words(text)]
    joined = " ".join(words)
    if not _PHRASE_STARTS.intersection(words):
        return joined
    while (again := _PHRASE.sub(_phrase, joined)) != joined:  # gesellschaft mbh and co kg
        joined = again
    return joined


def _phrase(found: re.Match[str]) -> str:
    return _PHRASES[found.group(1)]


def core(normalised_name: str) -> list[str]:
    """The words of a normalised name that tell one customer from another: no legal form, no
    filler (``and``, ``the``), no single letters."""
    return [word for word in normalised_name.split() if word not in _FILLERS and len(word) > 1]


def street(text: str | None) -> str:
    """A street address, normalised: ``Haupt Straße 5`` and ``Hauptstr. 5`` -> ``hauptstr 5``;
    ``12 Oak Street`` -> ``12 oak st``."""
    words: list[str] = []
    for word in _words(text):
        if word.endswith("strasse"):
            word = word[:-7] + "str"
        word = _STREET_WORDS.get(word, word)
        if word == "str" and words and words[-1].isalpha():
            words[-1] += "str"
        else:
            words.append(word)
    return " ".join(words)


def postal_code(text: str | None) -> str:
    """Letters and digits only, upper case: ``sw1a 1aa`` -> ``SW1A1AA``."""
    return "".join(char for char in (text or "").upper() if char.isalnum())


@functools.lru_cache(maxsize=65536)
def city(text: str | None) -> str:
    """A city's name, normalised as a name's words are: ``München`` -> ``munchen``."""
    return " ".join(_words(text))


def country(text: str | None) -> str:
    """An ISO 3166 code as given, upper case and stripped (``de`` -> ``DE``)."""
    return (text or "").strip().upper()
