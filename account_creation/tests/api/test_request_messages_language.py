"""A request's stored messages read in the reader's language, whatever language wrote them:
intake errors and warnings (request detail, replay, staff grid), cancellation, invalid JSON."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from account_creation.connectors import override_connectors
from account_creation.connectors.fake import FakeConnector
from account_creation.models import AccountCreationRequest
from account_creation.services.engine import AccountCreationService
from account_creation.tests.api.test_messages_language import assert_chinese
from account_creation.tests.ops.sandbox_data import staff_client
from conftest import make_request, make_user

pytestmark = pytest.mark.django_db

CREATE = "/account-creation/create_accounts/"
REQUESTS = "/account-creation/requests/"
CJK = re.compile(r"[\u4e00-\u9fff]")
INTERNAL_KEYS = {"messageData", "messageTexts", "reusedTaskId"}


def post(client: Any, body: Any, language: str, content_type: str = "application/json") -> Any:
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.generic("POST", CREATE, raw, content_type=content_type, HTTP_ACCEPT_LANGUAGE=language)


def partly_invalid(business_key: str = "mixed-1") -> dict[str, Any]:
    """Two accepted people (one in an unmapped department: a warning), and people rejected by
    DRF's own checks, by the serializer's and by intake's."""
    return make_request(
        [
            make_user("P500001", name="Anna Li"),
            make_user("P500002", name="Bob Wu", departmentCode="D404"),  # unmapped: a warning
            make_user("P500003", name="Carl Ma", phoneNumber="call me", country="Narnia"),  # ours, twice
            {k: v for k, v in make_user("P500004", name="Dora Xu").items() if k != "departmentCode"},  # DRF
            make_user("P5000050000000000000000", name="Eve Zhou"),  # DRF's max_length
            make_user("P500006", name="Finn3"),  # the serializer's name check
            make_user("P500001", name="Anna Li"),  # intake's duplicate: a message of ours
        ],
        business_key=business_key,
    )


def english(text: str) -> None:
    # The country hint names China in both scripts on purpose.
    assert not CJK.search(text.replace("(China, 中国)", "")), f"not English: {text!r}"


ENGLISH_ERRORS = {
    (2, "phoneNumber"): "Give the mobile number as digits",
    (2, "country"): "Unknown country 'Narnia'.",
    (3, "departmentCode"): "This field is required.",
    (4, "employeeNumber"): "Ensure this field has no more than 19 characters.",
    (5, "employeeName"): "Use only letters, spaces and",
    (6, "employeeNumber"): "Employee P500001 appears more than once in this request (first at index 0)",
}


def assert_public(issues: list[dict[str, Any]]) -> None:
    for issue in issues:
        assert set(issue) == {"index", "employeeNumber", "field", "message"}, issue


def test_errors_and_warnings_written_in_english_read_in_chinese_on_the_detail_and_a_replay(api_client, departments):
    created = post(api_client, partly_invalid(), "en")
    assert created.status_code == 207, created.content
    first = created.json()
    assert {(e["index"], e["field"]) for e in first["errors"]} >= {
        (2, "phoneNumber"), (2, "country"), (3, "departmentCode"), (4, "employeeNumber"), (5, "employeeName"),
        (6, "employeeNumber"),
    }
    assert [w["field"] for w in first["warnings"]] == ["departmentCode"]
    for issue in first["errors"] + first["warnings"]:
        english(issue["message"])

    detail = api_client.get(f"{REQUESTS}{first['requestId']}/", HTTP_ACCEPT_LANGUAGE="zh-CN").json()
    replay = post(api_client, partly_invalid(), "zh-CN")
    assert replay.status_code == 200
    for answer in (detail, replay.json()):
        assert_public(answer["errors"] + answer["warnings"])
        assert [(e["index"], e["field"]) for e in answer["errors"]] == [
            (e["index"], e["field"]) for e in first["errors"]
        ]
        for issue in answer["errors"] + answer["warnings"]:
            assert_chinese(issue["message"])
        assert "D404" in answer["warnings"][0]["message"]
        assert any("Narnia" in e["message"] for e in answer["errors"])

    # And English again for an English reader: the texts it was created with.
    again = api_client.get(f"{REQUESTS}{first['requestId']}/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert again["errors"] == first["errors"]
    assert again["warnings"] == first["warnings"]


def test_errors_and_warnings_written_in_chinese_read_in_english_on_the_detail_and_a_replay(api_client, departments):
    chinese = post(api_client, partly_invalid(), "zh-CN").json()
    for issue in chinese["errors"] + chinese["warnings"]:
        assert_chinese(issue["message"])

    detail = api_client.get(f"{REQUESTS}{chinese['requestId']}/", HTTP_ACCEPT_LANGUAGE="en").json()
    replay = post(api_client, partly_invalid(), "en")
    assert replay.status_code == 200
    for answer in (detail, replay.json()):
        assert_public(answer["errors"] + answer["warnings"])
        for error in answer["errors"]:
            english(error["message"])
            assert error["message"].startswith(ENGLISH_ERRORS[(error["index"], error["field"])]), error
        assert {(e["index"], e["field"]) for e in answer["errors"]} == set(ENGLISH_ERRORS)
        (warning,) = answer["warnings"]
        assert warning["message"].startswith("Department 'D404' has no mapping yet")
    assert replay.json()["errors"] == detail["errors"]
    # Any other language reads English too; Chinese stays Chinese.
    german = api_client.get(f"{REQUESTS}{chinese['requestId']}/", HTTP_ACCEPT_LANGUAGE="de-DE").json()
    assert german["errors"] == detail["errors"]
    zh = api_client.get(f"{REQUESTS}{chinese['requestId']}/", HTTP_ACCEPT_LANGUAGE="zh-Hans").json()
    assert zh["errors"] == chinese["errors"]
    assert zh["warnings"] == chinese["warnings"]


def test_a_row_stored_before_messages_were_kept_in_both_languages_shows_its_stored_text(api_client, departments):
    created = post(api_client, partly_invalid(), "en").json()
    request = AccountCreationRequest.objects.get(request_id=created["requestId"])
    old_style = [{k: v for k, v in issue.items() if k in ("index", "employeeNumber", "field", "message")}
                 for issue in request.errors]
    AccountCreationRequest.objects.filter(pk=request.pk).update(errors=old_style)

    detail = api_client.get(f"{REQUESTS}{created['requestId']}/", HTTP_ACCEPT_LANGUAGE="zh-CN").json()

    assert detail["errors"] == created["errors"]  # the English it was stored with, nothing breaks


def test_the_staff_request_grid_shows_rejected_people_in_the_browsers_language(
    api_client, departments, django_user_model
):
    post(api_client, partly_invalid(), "en")
    client = staff_client(django_user_model)

    def rejected_texts(language: str) -> list[str]:
        page = client.get("/admin/status/request/?business_key=mixed-1", HTTP_ACCEPT_LANGUAGE=language)
        table = page.content.decode().split('id="rejected-people"')[1].split("</table>")[0]
        return re.findall(r"<td>([^<]*)</td></tr>", table)  # the error column of each row

    chinese, english_texts = rejected_texts("zh-CN"), rejected_texts("en")
    assert len(chinese) == len(english_texts) == len(ENGLISH_ERRORS)
    for text in chinese:
        assert_chinese(text)
    for text in english_texts:
        english(text)
    assert "This field is required." in english_texts


# --- cancellation -----------------------------------------------------------------------


def test_a_cancellation_reads_all_chinese_under_zh_and_all_english_otherwise(api_client, departments):
    request_id = post(api_client, make_request(), "en").json()["requestId"]

    cancelled = api_client.post(f"{REQUESTS}{request_id}/cancel/", HTTP_ACCEPT_LANGUAGE="zh-CN")

    assert cancelled.status_code == 200
    said = cancelled.json()["people"][0]["accounts"]["idaas"]["lastError"]
    assert_chinese(said)
    assert "API client" not in said
    assert "API 客户端 oa-test" in said
    english_text = api_client.get(f"{REQUESTS}{request_id}/", HTTP_ACCEPT_LANGUAGE="en").json()
    assert english_text["people"][0]["accounts"]["idaas"]["lastError"].startswith("Cancelled by API client oa-test ")


@pytest.mark.parametrize("status", ["completed", "cancelled"])
def test_the_409_for_a_finished_request_names_its_status_in_the_readers_language(api_client, departments, status):
    request_id = post(api_client, make_request(), "en").json()["requestId"]
    if status == "completed":
        with override_connectors({s: FakeConnector(s) for s in ("idaas", "welink", "email")}):
            AccountCreationService(max_tasks=50).run()
    else:
        assert api_client.post(f"{REQUESTS}{request_id}/cancel/").status_code == 200

    chinese = api_client.post(f"{REQUESTS}{request_id}/cancel/", HTTP_ACCEPT_LANGUAGE="zh-CN")
    english_answer = api_client.post(f"{REQUESTS}{request_id}/cancel/", HTTP_ACCEPT_LANGUAGE="en")

    assert chinese.status_code == english_answer.status_code == 409
    detail = chinese.json()["detail"]
    assert_chinese(detail)
    assert f"({status})" not in detail
    assert {"completed": "（已完成）", "cancelled": "（已取消）"}[status] in detail
    assert f"already finished ({status})" in english_answer.json()["detail"]


# --- invalid JSON -------------------------------------------------------------------------

BAD_BODIES = {
    "not-json": "{not json",
    "trailing-comma": '{"originSystem": "oa",}',
    "missing-colon": '{"originSystem" "oa"}',
    "extra-data": '{"originSystem": "oa"} x',
    "unclosed-string": '{"originSystem": "oa',
    "nan": '{"a": NaN}',
    "not-utf8": b'{"originSystem": "\xff\xfe"}',
}


@pytest.mark.parametrize("raw", list(BAD_BODIES.values()), ids=list(BAD_BODIES))
def test_an_invalid_json_body_is_refused_all_in_chinese_under_zh(api_client, departments, raw):
    chinese = post(api_client, raw, "zh-CN")
    english_answer = post(api_client, raw, "en")

    assert chinese.status_code == english_answer.status_code == 400
    (error,) = chinese.json()["errors"]
    assert error["field"] == "body"
    assert_chinese(error["message"])
    assert not re.search(r"[A-Za-z]{3,}", error["message"].replace("JSON", "").replace("UTF-8", "")
                         .replace("Content-Type", "").replace("NaN", "").replace("Infinity", "")), error
    (english_error,) = english_answer.json()["errors"]
    assert english_error["message"].startswith("The body is not valid JSON")
    english(english_error["message"])
    assert "JSON parse error" not in english_error["message"]


def test_the_position_of_a_json_error_is_kept_as_numbers(api_client, departments):
    chinese = post(api_client, '{"originSystem": "oa",\n "businessKey" 1}', "zh-CN").json()["errors"][0]["message"]
    english_text = post(api_client, '{"originSystem": "oa",\n "businessKey" 1}', "en").json()["errors"][0]["message"]
    assert "第 2 行第 16 列" in chinese
    assert english_text == "The body is not valid JSON: ':' is missing at line 2, column 16."


def test_invalid_json_sent_to_any_other_endpoint_is_answered_in_the_callers_language(api_client, departments):
    chinese = api_client.generic(
        "POST", "/department-mappings/", "{oops", content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-CN"
    )
    assert chinese.status_code == 400
    assert chinese.json()["code"] == "parse_error"
    assert_chinese(chinese.json()["detail"])
    assert "parse error" not in chinese.json()["detail"]
    english_answer = api_client.generic("POST", "/department-mappings/", "{oops", content_type="application/json")
    assert english_answer.json()["detail"].startswith("The body is not valid JSON: a property name")
