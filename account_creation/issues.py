"""A request's intake issues (people rejected, warnings): how they are stored and shown.

Stored on the request row (``errors``, ``warnings``) with what is needed to show them again in
any reader's language; read by intake (replays), the request resource and the console.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import translation

from accountsync.messages import Message, render_stored

# Stored in a reuse warning of the request row (not sent to the client), so a replay can
# list the reused task again.
REUSED_TASK_KEY = "reusedTaskId"
# Stored with an issue of ours (code and parameters), so a replay answers in its caller's language.
MESSAGE_KEY = "messageData"
# Stored with a field error (DRF's or the serializer's text, which has no code to render again):
# its text in every language the API speaks, {"en": …, "zh-hans": …}.
TEXTS_KEY = "messageTexts"
INTERNAL_KEYS = (REUSED_TASK_KEY, MESSAGE_KEY, TEXTS_KEY)


@dataclass(frozen=True)
class IntakeIssue:
    """A rejected user (error) or an accepted user with something to know (warning)."""

    index: int | None
    employee_number: str | None
    field: str
    message: str | Message  # a Message of ours, or a text already rendered (a field error)

    reused_task_id: int | None = None
    # A field error's text in each language of settings.LANGUAGES (None: only ``message``).
    texts: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "employeeNumber": self.employee_number,
            "field": self.field,
            "message": str(self.message),
        }

    def as_stored_dict(self) -> dict[str, Any]:
        stored = self.as_dict()
        if isinstance(self.message, Message):
            stored[MESSAGE_KEY] = self.message.as_stored()
        elif self.texts:
            stored[TEXTS_KEY] = dict(self.texts)
        if self.reused_task_id is not None:
            stored[REUSED_TASK_KEY] = self.reused_task_id
        return stored


def _reader_language() -> str:
    """The active language as settings.LANGUAGES spells it (zh-hans, en)."""
    try:
        return translation.get_supported_language_variant(translation.get_language() or settings.LANGUAGE_CODE)
    except LookupError:
        return settings.LANGUAGE_CODE


def issue_text(issue: Mapping[str, Any]) -> str:
    """A stored issue's message in the active language.

    Ours re-renders from its code; a field error shows its text in that language. A row
    stored before either was kept (or in a language not stored) shows the text it was
    stored with.
    """
    fallback = str(issue.get("message", ""))
    if issue.get(MESSAGE_KEY):
        return render_stored(issue[MESSAGE_KEY], fallback)
    texts = issue.get(TEXTS_KEY)
    if isinstance(texts, dict):
        text = texts.get(_reader_language())
        if isinstance(text, str):
            return text
    return fallback


def public_issue(issue: Mapping[str, Any]) -> dict[str, Any]:
    """A stored issue as the API shows it: in the reader's language, without internal keys."""
    public = {key: value for key, value in issue.items() if key not in INTERNAL_KEYS}
    public["message"] = issue_text(issue)
    return public
