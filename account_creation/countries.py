"""Country codes the OA system sends, with their calling codes and IDaaS work areas."""

from __future__ import annotations

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
