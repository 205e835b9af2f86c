"""Country codes the OA system sends, with their calling codes and IDaaS work areas."""

from __future__ import annotations

import gettext
from functools import cache

import pycountry

# ISO 3166-1 alpha-2 (lower case, as the OA system sends it) -> (calling code, work area)
COUNTRIES: dict[str, tuple[str, str]] = {
    "cn": ("+86", "China"),
    "hk": ("+852", "Hong Kong"),
    "mo": ("+853", "Macau"),
    "tw": ("+886", "Taiwan"),
    "sg": ("+65", "Singapore"),
    "my": ("+60", "Malaysia"),
    "th": ("+66", "Thailand"),
    "vn": ("+84", "Vietnam"),
    "id": ("+62", "Indonesia"),
    "ph": ("+63", "Philippines"),
    "jp": ("+81", "Japan"),
    "kr": ("+82", "Korea"),
    "in": ("+91", "India"),
    "ae": ("+971", "United Arab Emirates"),
    "sa": ("+966", "Saudi Arabia"),
    "de": ("+49", "Germany"),
    "fr": ("+33", "France"),
    "gb": ("+44", "United Kingdom"),
    "uk": ("+44", "United Kingdom"),
    "nl": ("+31", "Netherlands"),
    "it": ("+39", "Italy"),
    "es": ("+34", "Spain"),
    "ru": ("+7", "Russia"),
    "us": ("+1", "United States"),
    "ca": ("+1", "Canada"),
    "mx": ("+52", "Mexico"),
    "br": ("+55", "Brazil"),
    "au": ("+61", "Australia"),
    "nz": ("+64", "New Zealand"),
    "za": ("+27", "South Africa"),
    "eg": ("+20", "Egypt"),
    "ng": ("+234", "Nigeria"),
    "pk": ("+92", "Pakistan"),
}
DEFAULT_COUNTRY = "cn"


def calling_code(country: str) -> str:
    return COUNTRIES.get((country or DEFAULT_COUNTRY).lower(), COUNTRIES[DEFAULT_COUNTRY])[0]


def work_area(country: str) -> str:
    return COUNTRIES.get((country or DEFAULT_COUNTRY).lower(), COUNTRIES[DEFAULT_COUNTRY])[1]


# --- what the OA system may send -------------------------------------------------------
# ISO 3166 alpha-2/alpha-3 in any case, or the English or Chinese name, resolved with
# pycountry (ISO's list with its official and common names, and the iso-codes project's
# Chinese translations), not a hand list. Besides: the names this module itself uses (Macau,
# Korea, Russia) and 中国香港/中国澳门/中国台湾, the way mainland forms name those regions.

_NAME_ATTRIBUTES = ("name", "official_name", "common_name")
# Simplified first: a traditional spelling never takes a name the simplified catalog uses.
_CHINESE_LOCALES = ("zh_CN", "zh_TW", "zh_HK")
_CHINA_PREFIXES = ("中国", "中國")
_REGIONS_OF_CHINA = ("hk", "mo", "tw")


def _normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


@cache
def _country_index() -> dict[str, str]:
    """Every accepted spelling (normalised) -> our code, e.g. "中华人民共和国" -> "cn"."""
    catalogs = [
        gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[locale], fallback=True)
        for locale in _CHINESE_LOCALES
    ]
    index: dict[str, str] = {}
    for country in pycountry.countries:
        code = country.alpha_2.lower()
        names = [name for name in (getattr(country, attribute, None) for attribute in _NAME_ATTRIBUTES) if name]
        chinese = [catalog.gettext(name) for catalog in catalogs for name in names]
        spellings = [country.alpha_2, country.alpha_3, *names, *chinese]
        if code in _REGIONS_OF_CHINA:
            spellings += [
                prefix + name for name in chinese if not name.startswith(_CHINA_PREFIXES) for prefix in _CHINA_PREFIXES
            ]
        for spelling in spellings:
            index.setdefault(_normalise(spelling), code)
    # Codes the OA system already sends that ISO does not define (uk for gb) keep working,
    # and so do the names this module gives the countries it provisions (Macau, Korea, Russia).
    for code, (_calling_code, name) in COUNTRIES.items():
        index.setdefault(code, code)
        index.setdefault(_normalise(name), code)
    return index


def resolve_country(value: str) -> str | None:
    """Our country code for what was sent (None when unknown or not supported)."""
    code = _country_index().get(_normalise(value))
    return code if code in COUNTRIES else None


def iso_country_code(value: str) -> str | None:
    """The ISO alpha-2 code (lower case) pycountry knows for ``value``, supported or not."""
    return _country_index().get(_normalise(value))


def country_name(code: str, *, chinese: bool = False) -> str:
    """The country's short name in English or Simplified Chinese (the code when unknown)."""
    country = pycountry.countries.get(alpha_2=code.upper())
    if country is None:
        return code
    if not chinese:
        return str(country.name)
    translations = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"], fallback=True)
    return translations.gettext(country.name)
