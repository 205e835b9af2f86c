"""load_department_mappings: the bundled file, idempotency, all-or-nothing, errors."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from departments.models import DepartmentMapping

pytestmark = pytest.mark.django_db

HEADER = "idata_departmentcode,idaas_departmentcode,department_name,ou\n"


def load(*args: str) -> str:
    out = StringIO()
    call_command("load_department_mappings", *args, stdout=out)
    return out.getvalue()


def write(tmp_path: Path, text: str, name: str = "mappings.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_the_bundled_file(settings):
    output = load()
    count = DepartmentMapping.objects.count()
    assert count >= 30
    assert f"{count} created" in output
    it = DepartmentMapping.objects.get(idata_departmentcode="120000")
    assert it.idaas_departmentcode == "WW120000"
    assert it.ou == f"OU=信息技术部,OU=总部,DC={settings.IDAAS_DC1},DC={settings.IDAAS_DC2}"


def test_second_run_creates_nothing():
    load()
    before = {m.idata_departmentcode: (m.pk, m.ou, m.updated_at) for m in DepartmentMapping.objects.all()}
    output = load()
    assert "0 created, 0 updated" in output
    after = {m.idata_departmentcode: (m.pk, m.ou, m.updated_at) for m in DepartmentMapping.objects.all()}
    assert after == before


def test_a_changed_row_is_updated_and_reactivated(tmp_path):
    load()
    DepartmentMapping.objects.filter(idata_departmentcode="120000").update(ou="OU=old,DC=x,DC=y", is_active=False)
    old = DepartmentMapping.objects.get(idata_departmentcode="120000").updated_at
    output = load()
    assert "1 updated" in output
    row = DepartmentMapping.objects.get(idata_departmentcode="120000")
    assert row.is_active
    assert row.ou.startswith("OU=信息技术部")
    assert row.updated_at > old


def test_file_option(tmp_path):
    path = write(tmp_path, HEADER + '880000,WW880000,新部门,"OU=新部门,DC=example,DC=com"\n')
    load("--file", str(path))
    assert DepartmentMapping.objects.get().ou == "OU=新部门,DC=example,DC=com"


def test_a_bad_row_loads_nothing_and_names_its_line(tmp_path):
    path = write(
        tmp_path,
        HEADER
        + '880000,WW880000,好部门,"OU=好部门,DC=example,DC=com"\n'
        + '880001,WW880001,坏部门,"OU=坏部门，DC=corp，DC=com"\n'
        + '880002,,缺代码,"OU=缺代码"\n',
    )
    with pytest.raises(CommandError) as error:
        load("--file", str(path))
    message = str(error.value)
    assert "line 3" in message
    assert "line 4" in message
    assert "line 2" not in message
    assert not DepartmentMapping.objects.exists()


def test_line_numbers_count_blank_and_multiline_rows(tmp_path):
    path = write(
        tmp_path,
        HEADER
        + "\n"
        + '880000,WW880000,"两行\n名字","OU=好部门"\n'
        + '880001,WW880001,坏部门,"DC=corp,OU=坏部门"\n',
    )
    with pytest.raises(CommandError, match="line 5"):
        load("--file", str(path))


def test_duplicate_code_in_the_file_is_refused(tmp_path):
    path = write(tmp_path, HEADER + '880000,A,x,"OU=a"\n880000,B,y,"OU=b"\n')
    with pytest.raises(CommandError, match="line 3.*line 2"):
        load("--file", str(path))
    assert not DepartmentMapping.objects.exists()


def test_missing_column_is_refused(tmp_path):
    path = write(tmp_path, "idata_departmentcode,ou\n880000,OU=a\n")
    with pytest.raises(CommandError, match="idaas_departmentcode"):
        load("--file", str(path))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="not found"):
        load("--file", str(tmp_path / "nope.csv"))


@pytest.mark.parametrize("kind", ["directory", "binary"])
def test_unreadable_file_is_a_clear_error(tmp_path, kind):
    if kind == "directory":
        path = tmp_path
    else:
        path = tmp_path / "latin1.csv"
        path.write_bytes(HEADER.encode() + "880000,A,\xe9\xe9,OU=a\n".encode("latin-1"))
    with pytest.raises(CommandError, match="Nothing was loaded"):
        load("--file", str(path))
    assert not DepartmentMapping.objects.exists()
