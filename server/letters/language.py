"""The household's language as a roster spells it, made a BCP 47 code, and the catalog a letter is
written in.

Rosters hold whatever the district's student-information system exported: a code (``es``,
``ES-mx``, ``es_MX``, ``spa``), an English name (``Spanish``, ``Haitian Creole``, ``Spanish
(Mexico)``) or the language's own name (``Español``, ``Português``, ``中文``). Every name and code
comes from Babel's CLDR data, so no list of languages is kept here; matching ignores case, accents
and extra spaces.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from babel import Locale, localedata
from babel.core import get_global, parse_locale

CATALOGS: tuple[str, ...] = ("en", "es", "pt")
"""The languages a letter can be written in (server/letters/locale/*)."""

DEFAULT = "en"

# Spellings US school rosters use that CLDR does not name. CLDR calls Farsi "Persian", Cape Verdean
# Creole "Kabuverdianu" and has no "Mandarin". A bare "Creole" is read as Haitian Creole, the
# Creole most spoken in Connecticut; a roster meaning Cape Verdean Creole tends to say so.
_ALIASES = {
    "farsi": "fa",
    "mandarin": "zh",
    "creole": "ht",
    "haitian": "ht",
    "cape verdean": "kea",
    "cape verdean creole": "kea",
}

# Codes CLDR lists that name no language a letter could be written in ("und" undetermined, "mul"
# multiple, "mis" uncoded, "zxx" no linguistic content), and "na" (Nauru), which rosters write for
# "not available".
_NOT_A_LANGUAGE = frozenset({"und", "mul", "mis", "zxx", "na"})

_TAG = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
_WITH_REGION = re.compile(r"(.+?)\s*\((.+)\)")


def _key(text: str) -> str:
    """Casefolded, without accents, spaces collapsed: "  Português " and "portugues" meet."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


@functools.cache
def _english() -> Locale:
    return Locale("en")


@functools.cache
def _names() -> dict[str, str]:
    """Language name → code: CLDR's English names ("Mexican Spanish" → es_MX), then each language's
    name for itself ("español", "中文", "Kreyòl Ayisyen"), then the Spanish and Portuguese names of
    every language (an office writing in those). The first wins a clash. About a second once."""
    names: dict[str, str] = {}

    def add(name: str, code: str) -> None:
        names.setdefault(_key(name), code)

    for code, name in _english().languages.items():
        add(name, code)
    for ident in localedata.locale_identifiers():
        if "_" in ident:
            continue
        own = Locale.parse(ident).languages.get(ident)
        if own:
            add(own, ident)
    for catalog in CATALOGS:
        for code, name in Locale(catalog).languages.items():
            add(name, code)
    for alias, code in _ALIASES.items():
        add(alias, code)
    return names


@functools.cache
def _territories() -> dict[str, str]:
    """Region name → code, for Babel's display form "Spanish (Mexico)" / "español (México)"."""
    regions: dict[str, str] = {}
    for catalog in CATALOGS:
        for code, name in Locale(catalog).territories.items():
            regions.setdefault(_key(name), code)
    return regions


def _from_code(raw: str) -> str | None:
    """``ES-mx`` → ``es-MX``; ``spa`` → ``es``; ``zh_hant`` → ``zh-Hant``. A subtag Babel does not
    know is dropped (``es-XX`` → ``es``); an unknown language gives None."""
    if not _TAG.fullmatch(raw):
        return None
    try:
        language, territory, script = parse_locale(raw.replace("-", "_"))[:3]
    except ValueError:
        return None
    alias = get_global("language_aliases").get(language)
    if alias:  # "spa" → "es", "iw" → "he", "sh" → "sr_Latn"
        language, alias_territory, alias_script = parse_locale(alias)[:3]
        territory = territory or alias_territory
        script = script or alias_script
    english = _english()
    if language not in english.languages or language in _NOT_A_LANGUAGE:
        return None
    parts = [language]
    if script and script.title() in english.scripts:
        parts.append(script.title())
    if territory and territory.upper() in english.territories:
        parts.append(territory.upper())
    return "-".join(parts)


def _from_name(raw: str) -> str | None:
    """ "Spanish" → ``es``; "Brazilian Portuguese" → ``pt-BR``; "Spanish (Mexico)" → ``es-MX``."""
    names = _names()
    code = names.get(_key(raw))
    if code is None:
        match = _WITH_REGION.fullmatch(raw.strip())
        if match is None:
            return None
        language = names.get(_key(match[1]))
        region = _territories().get(_key(match[2]))
        if language is None:
            return None
        code = f"{language}_{region}" if region and "_" not in language else language
    return _from_code(code)


def normalise(raw: str | None) -> str | None:
    """The BCP 47 code of what a roster or a request says the household speaks; None when it is
    empty or names no language Babel knows."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    return _from_code(text) or _from_name(text)


def pick(raw: str | None) -> tuple[str, bool, str | None]:
    """(the catalog the letter is written in, fallback, the normalised code).

    A known language without a catalog falls back to English and says so, so the office can add an
    interpreter's note; no language on record is no fallback: English is the default."""
    code = normalise(raw)
    if code is None:
        return DEFAULT, False, None
    language = code.split("-", 1)[0]
    if language in CATALOGS:
        return language, False, code
    return DEFAULT, True, code
