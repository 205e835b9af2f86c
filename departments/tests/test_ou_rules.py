"""OU rules: the configured domain, AD's built-in containers, ALLOWED_OU_SUFFIXES."""

from __future__ import annotations

import environ
import pytest
from django.core.exceptions import ValidationError

from departments.checks import check_allowed_ou_suffixes
from departments.models import DepartmentMapping
from departments.validators import group_suffixes, validate_ou

pytestmark = pytest.mark.django_db

URL = "/department-mappings/"


def mapping(ou: str) -> dict:
    return {"idata_departmentcode": "990000", "idaas_departmentcode": "WW990000", "department_name": "测试部", "ou": ou}


def refused(api_client, ou: str) -> str:
    response = api_client.post(URL, mapping(ou), format="json")
    assert response.status_code == 400, (ou, response.json())
    assert set(response.json()) == {"ou"}
    assert not DepartmentMapping.objects.exists()
    [message] = response.json()["ou"]
    return message


@pytest.mark.parametrize(
    "ou",
    [
        "OU=Domain Controllers,DC=example,DC=com",
        "ou=domain controllers , dc=EXAMPLE ,dc=com",
        "OU = Domain Controllers,DC = example,DC = com",
        "OU=Domain  Controllers,DC=example,DC=com",
        "OU=Domain\\20Controllers,DC=example,DC=com",
        "OU=Servers,OU=Domain Controllers,DC=example,DC=com",
    ],
)
def test_the_domain_controllers_ou_is_refused(api_client, ou):
    message = refused(api_client, ou)
    assert "domain controllers' OU" in message
    # What to write instead.
    assert "OU=<department>,DC=example,DC=com" in message
    assert "ALLOWED_OU_SUFFIXES" in message


@pytest.mark.parametrize(
    "ou",
    [
        "CN=Users,DC=example,DC=com",
        "cn = users , DC=example,DC=com",
        "OU=Contractors,CN=Users,DC=example,DC=com",
        "CN=Builtin,DC=example,DC=com",
        "CN=Computers,DC=example,DC=com",
        "CN=System,DC=example,DC=com",
        "OU=x,CN=System,DC=example,DC=com",
        "CN=Program Data,DC=example,DC=com",
        "CN=ForeignSecurityPrincipals,DC=example,DC=com",
        "CN=Managed Service Accounts,DC=example,DC=com",
    ],
)
def test_built_in_containers_are_refused(api_client, ou):
    message = refused(api_client, ou)
    assert "ordinary accounts must not be created there" in message
    assert "OU=<department>,DC=example,DC=com" in message


def test_the_message_names_the_container_as_written(api_client):
    message = refused(api_client, "OU=Contractors,CN=Users,DC=example,DC=com")
    assert "inside CN=Users,DC=example,DC=com" in message


@pytest.mark.parametrize(
    "ou",
    [
        "OU=研发部,DC=evil,DC=com",
        "OU=研发部,DC=corp,DC=example,DC=com",
        "OU=研发部,DC=example",
        "OU=研发部,DC=com,DC=example",
        "OU=Domain Controllers,DC=evil,DC=com",
    ],
)
def test_a_foreign_domain_is_refused(api_client, ou):
    message = refused(api_client, ou)
    assert "accounts are created in DC=example,DC=com" in message
    assert "IDAAS_DC1" in message
    assert "write it as OU=<department>,…,DC=example,DC=com" in message


def test_the_reported_patch_is_refused_and_changes_nothing(api_client, departments):
    """The security review's case: 120000 PATCHed into the domain controllers' OU."""
    row = DepartmentMapping.objects.get(idata_departmentcode="120000")
    before = (row.ou, row.history.count())
    response = api_client.patch(f"{URL}{row.pk}/", {"ou": "OU=Domain Controllers,DC=example,DC=com"}, format="json")
    assert response.status_code == 400
    assert "Domain Controllers" in response.json()["ou"][0]
    row.refresh_from_db()
    assert (row.ou, row.history.count()) == before


@pytest.mark.parametrize(
    "ou",
    [
        "OU=Users,DC=example,DC=com",  # an OU named Users is not the CN=Users container
        "CN=Users,OU=总部,DC=example,DC=com",  # CN=Users only refused directly under the root
        "OU=Computers,OU=北京,DC=example,DC=com",
        "OU=System Team,DC=example,DC=com",
        "OU=研发部,DC=Example,DC=COM",
    ],
)
def test_ordinary_ous_are_accepted(api_client, ou):
    response = api_client.post(URL, mapping(ou), format="json")
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    "suffixes",
    [
        # As the environment variable arrives: django-environ splits the DN at its commas.
        environ.Env.parse_value("CN=Users,DC=example,DC=com", list),
        ["CN=Users,DC=example,DC=com"],
        environ.Env.parse_value("OU=Staff,DC=example,DC=com,cn=users, dc=example ,dc=com", list),
    ],
)
def test_allowed_ou_suffixes_allow_an_otherwise_refused_container(api_client, settings, suffixes):
    assert api_client.post(URL, mapping("CN=Users,DC=example,DC=com"), format="json").status_code == 400
    settings.ALLOWED_OU_SUFFIXES = suffixes
    created = api_client.post(URL, mapping("CN=Users,DC=example,DC=com"), format="json")
    assert created.status_code == 201, created.json()
    inside = api_client.post(URL, {**mapping("OU=Contractors,CN=Users,DC=example,DC=com"),
                                   "idata_departmentcode": "990001"}, format="json")
    assert inside.status_code == 201, inside.json()
    # Only what the suffix covers: other containers and other domains stay refused.
    assert "Domain Controllers" in refused_again(api_client, "OU=Domain Controllers,DC=example,DC=com")


def refused_again(api_client, ou: str) -> str:
    response = api_client.post(URL, {**mapping(ou), "idata_departmentcode": "990009"}, format="json")
    assert response.status_code == 400, response.json()
    return response.json()["ou"][0]


def test_an_allowed_suffix_does_not_allow_a_foreign_domain(api_client, settings):
    settings.ALLOWED_OU_SUFFIXES = ["CN=Users,DC=evil,DC=com"]
    assert "DC=example,DC=com" in refused(api_client, "CN=Users,DC=evil,DC=com")


def test_a_suffix_matches_whole_dn_parts_only(settings):
    settings.ALLOWED_OU_SUFFIXES = ["Users,DC=example,DC=com"]  # not a DN: allows nothing
    with pytest.raises(ValidationError):
        validate_ou("CN=Users,DC=example,DC=com")
    settings.ALLOWED_OU_SUFFIXES = ["CN=ers,DC=example,DC=com"]
    with pytest.raises(ValidationError):
        validate_ou("CN=Users,DC=example,DC=com")


def test_without_a_configured_domain_only_the_domain_check_is_skipped(api_client, settings):
    settings.IDAAS_DC1 = ""
    settings.IDAAS_DC2 = ""
    created = api_client.post(URL, mapping("OU=研发部,DC=other,DC=org"), format="json")
    assert created.status_code == 201, created.json()
    message = refused_again(api_client, "OU=Domain Controllers,DC=other,DC=org")
    assert "OU=<department>,DC=other,DC=org" in message


def test_the_domain_is_read_at_validation_time(settings):
    settings.IDAAS_DC1, settings.IDAAS_DC2 = "corp", "cn"
    validate_ou("OU=研发部,DC=corp,DC=cn")
    with pytest.raises(ValidationError, match="DC=corp,DC=cn"):
        validate_ou("OU=研发部,DC=example,DC=com")


def test_suffixes_are_regrouped_into_whole_dns():
    pieces = environ.Env.parse_value(
        "CN=Users,DC=example,DC=com,OU=Domain Controllers,OU=Lab,DC=example,DC=com,OU=R\\,D,DC=example,DC=com", list
    )
    assert group_suffixes(pieces) == [
        "CN=Users,DC=example,DC=com",
        "OU=Domain Controllers,OU=Lab,DC=example,DC=com",
        "OU=R\\,D,DC=example,DC=com",
    ]
    assert group_suffixes([]) == []
    assert group_suffixes(["", " "]) == []


def test_a_malformed_suffix_is_a_system_check_error(settings):
    settings.ALLOWED_OU_SUFFIXES = ["CN=Users"]
    [error] = check_allowed_ou_suffixes()
    assert error.id == "departments.E001"
    assert "CN=Users" in error.msg
    settings.ALLOWED_OU_SUFFIXES = ["CN=Users", "DC=example", "DC=com"]
    assert check_allowed_ou_suffixes() == []


def test_the_bundled_file_lies_in_the_configured_domain(settings):
    from departments.services import department_mappings_load

    result = department_mappings_load()
    assert result.created >= 30
    suffix = f",DC={settings.IDAAS_DC1},DC={settings.IDAAS_DC2}"
    assert all(ou.endswith(suffix) for ou in DepartmentMapping.objects.values_list("ou", flat=True))


def test_the_loader_refuses_a_container_row_and_loads_nothing(tmp_path):
    from departments.services import MappingFileError, department_mappings_load

    path = tmp_path / "bad.csv"
    path.write_text(
        "idata_departmentcode,idaas_departmentcode,department_name,ou\n"
        '880000,WW880000,好部门,"OU=好部门"\n'
        '880001,WW880001,域控,"OU=Domain Controllers"\n'
        '880002,WW880002,外域,"OU=x,DC=evil,DC=com"\n',
        encoding="utf-8",
    )
    with pytest.raises(MappingFileError) as error:
        department_mappings_load(path=path)
    assert [problem.split(":")[0] for problem in error.value.problems] == ["line 3", "line 4"]
    assert not DepartmentMapping.objects.exists()
