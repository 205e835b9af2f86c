"""Writes of department mappings: the idempotent bulk load from a CSV file.

Every row it creates or changes gets a history entry (simple-history's bulk helpers), with
no user (a command has none) and the change reason ``load_department_mappings <file>``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from departments.models import DepartmentMapping
from departments.validators import validate_ou

BUNDLED_FILE = Path(__file__).resolve().parent / "data" / "department_mappings.csv"
REQUIRED_COLUMNS = ("idata_departmentcode", "idaas_departmentcode", "ou")


class MappingFileError(Exception):
    """The file cannot be loaded; ``problems`` lists each bad line."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class LoadResult:
    created: int
    updated: int
    unchanged: int


def full_ou(ou: str) -> str:
    """Append the domain components (IDAAS_DC1, IDAAS_DC2) when the file gives only OUs."""
    ou = ou.strip()
    if "DC=" in ou.upper():
        return ou
    return f"{ou},DC={settings.IDAAS_DC1},DC={settings.IDAAS_DC2}"


def _parse(reader: csv.DictReader) -> dict[str, dict[str, str]]:
    problems: list[str] = []
    parsed: dict[str, dict[str, str]] = {}
    first_line: dict[str, int] = {}
    for row in reader:
        # The reader's own count: blank lines and quoted line breaks shift it, a counter of
        # rows would not (a row spanning lines is reported at its last line).
        line = reader.line_num
        values = {key.strip(): (value or "").strip() for key, value in row.items() if key}
        missing = [column for column in REQUIRED_COLUMNS if not values.get(column)]
        if missing:
            problems.append(_("line %(line)s: missing %(columns)s") % {"line": line, "columns": ", ".join(missing)})
            continue
        code = values["idata_departmentcode"]
        if code in first_line:
            problems.append(
                _("line %(line)s: code %(code)s repeats line %(first)s")
                % {"line": line, "code": code, "first": first_line[code]}
            )
            continue
        ou = full_ou(values["ou"])
        try:
            validate_ou(ou)
        except ValidationError as exc:
            problems.append(_("line %(line)s: %(problem)s") % {"line": line, "problem": "; ".join(exc.messages)})
            continue
        first_line[code] = line
        parsed[code] = {
            "idaas_departmentcode": values["idaas_departmentcode"],
            "department_name": values.get("department_name", ""),
            "ou": ou,
        }
    if problems:
        raise MappingFileError(problems)
    return parsed


def department_mappings_load(*, path: Path = BUNDLED_FILE) -> LoadResult:
    """Upsert every row of a CSV file, or nothing when any row is bad."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [name.strip() for name in reader.fieldnames or []]
            absent = [column for column in REQUIRED_COLUMNS if column not in header]
            if absent:
                raise MappingFileError(
                    [_("line 1: header lacks column(s) %(columns)s") % {"columns": ", ".join(absent)}]
                )
            parsed = _parse(reader)
    except FileNotFoundError as exc:
        raise MappingFileError([_("file not found: %(path)s") % {"path": path}]) from exc
    except UnicodeDecodeError as exc:
        problem = _("%(path)s is not UTF-8 text: %(reason)s") % {"path": path, "reason": exc.reason}
        raise MappingFileError([problem]) from exc
    except csv.Error as exc:
        problem = _("%(path)s is not a valid CSV file: %(error)s") % {"path": path, "error": exc}
        raise MappingFileError([problem]) from exc
    except OSError as exc:
        problem = _("cannot read %(path)s: %(error)s") % {"path": path, "error": exc.strerror or exc}
        raise MappingFileError([problem]) from exc

    created = updated = unchanged = 0
    with transaction.atomic(durable=True):
        existing = {
            mapping.idata_departmentcode: mapping
            for mapping in DepartmentMapping.objects.select_for_update().filter(
                idata_departmentcode__in=parsed
            )
        }
        to_create, to_update = [], []
        now = timezone.now()
        for code, fields in parsed.items():
            mapping = existing.get(code)
            if mapping is None:
                to_create.append(DepartmentMapping(idata_departmentcode=code, **fields))
                continue
            if all(getattr(mapping, name) == value for name, value in fields.items()) and mapping.is_active:
                unchanged += 1
                continue
            for name, value in fields.items():
                setattr(mapping, name, value)
            mapping.is_active = True
            # bulk_update does not run auto_now; set it so the admin shows the change.
            mapping.updated_at = now
            to_update.append(mapping)
        reason = f"load_department_mappings {Path(path).name}"[:100]
        bulk_create_with_history(to_create, DepartmentMapping, default_change_reason=reason, default_date=now)
        bulk_update_with_history(
            to_update,
            DepartmentMapping,
            ["idaas_departmentcode", "department_name", "ou", "is_active", "updated_at"],
            default_change_reason=reason,
            default_date=now,
        )
        created, updated = len(to_create), len(to_update)
    return LoadResult(created=created, updated=updated, unchanged=unchanged)
