"""A small client of the sandbox for the tests: the calls a connector would make."""

from __future__ import annotations

from typing import Any

import requests

from sandbox.world import Credentials

ENTERPRISE_ID = "ent-test"


def idaas_user(number: str = "P000126", **overrides: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "employeeNumber": number,
        "name": "张三",
        "englishName": "zhangsan",
        "userName": f"z{number}",
        "userType": "employee",
        "email": f"zhangsan.{number.lower()}@corp.example.com",
        "mobileCountryCode": "+86",
        "mobile": "13800138000",
        "userExtends": {"workArea": "China", "ou": "OU=外部公司人员,DC=example,DC=com"},
    }
    extends = overrides.pop("userExtends", None)
    info.update(overrides)
    if extends is not None:
        info["userExtends"] = {**info["userExtends"], **extends}
    return {"userInfo": info}


def welink_user(number: str = "P000126", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "corpUserId": number,
        "userNameCn": "张三",
        "userNameEn": "zhangsan",
        "mobileNumber": "+86-13800138000",
        "corpDeptCodes": ["120000"],
        "userEmail": f"zhangsan.{number.lower()}@corp.example.com",
    }
    body.update(overrides)
    return body


class SandboxClient:
    def __init__(self, url: str, credentials: Credentials, *, timeout: float = 5.0):
        self.url = url
        self.credentials = credentials
        self.timeout = timeout
        self.http = requests.Session()

    def post(self, path: str, body: Any = None, *, headers: dict[str, str] | None = None, **kwargs: Any):
        kwargs.setdefault("timeout", self.timeout)
        return self.http.post(self.url + path, json=body, headers=headers or {}, **kwargs)

    # --- control ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return self.http.get(self.url + "/_sandbox/state", timeout=self.timeout).json()

    def faults(self, **faults: Any) -> requests.Response:
        response = self.post("/_sandbox/faults", faults)
        assert response.status_code == 200, response.text
        return response

    # --- IDaaS -----------------------------------------------------------------------
    def idaas_token(self, account: str | None = None, secret: str | None = None) -> requests.Response:
        attributes = {
            "account": account if account is not None else self.credentials.idaas_account,
            "secret": secret if secret is not None else self.credentials.idaas_secret,
        }
        return self.post("/api/iam/auth/enterprise-token", {"data": {"type": "token", "attributes": attributes}})

    def idaas_access_token(self) -> str:
        return self.idaas_token().json()["access_token"]

    def idaas_create(self, body: dict[str, Any], token: str | None = None, **kwargs: Any) -> requests.Response:
        token = token if token is not None else self.idaas_access_token()
        path = f"/api/idaas/idm-openapi/enterprise/{ENTERPRISE_ID}/user/onboarding"
        return self.post(path, body, headers={"Authorization": token}, **kwargs)

    # --- WeLink ----------------------------------------------------------------------
    def welink_ticket(self, client_id: str | None = None, client_secret: str | None = None) -> requests.Response:
        return self.post(
            "/api/auth/v2/tickets",
            {
                "client_id": client_id if client_id is not None else self.credentials.welink_client_id,
                "client_secret": client_secret if client_secret is not None else self.credentials.welink_client_secret,
            },
        )

    def welink_access_token(self) -> str:
        return self.welink_ticket().json()["access_token"]

    def welink_create(self, body: dict[str, Any], token: str | None = None, **kwargs: Any) -> requests.Response:
        token = token if token is not None else self.welink_access_token()
        return self.post("/api/contact/v1/user/create", body, headers={"x-wlk-Authorization": token}, **kwargs)

    def welink_detail(self, corp_user_id: str, token: str | None = None) -> requests.Response:
        token = token if token is not None else self.welink_access_token()
        return self.post(
            "/api/contact/v2/user/detail", {"corpUserId": corp_user_id}, headers={"x-wlk-Authorization": token}
        )

    # --- Exchange --------------------------------------------------------------------
    def enable_mailbox(self, sam: str, alias: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        token = token if token is not None else self.credentials.email_token
        body = {"EnableMailboxList": [{"SAMAccountName": sam, "Alias": alias}]}
        return self.post("/api/Exchange/EnableMailbox", body, headers={"Authorization": token}, **kwargs)
