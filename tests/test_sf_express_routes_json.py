"""SF Express route query JSON: detection (bare and gateway-wrapped), opCodes, Chinese remarks, errors."""
from __future__ import annotations

import json

import pytest

from parsers import normalize_document
from tests.goldens import FIXTURES, payloads

FOLDER = FIXTURES / "sf_express_routes_json"


def route(code="31", remark="快件到达 【上海浦江中转场】", when="2025-03-19 01:16:08", where="上海市"):
    return {"acceptTime": when, "acceptAddress": where, "remark": remark, "opCode": code}


def result(*routes, mail_no="SF1402873356190"):
    return {"success": True, "errorCode": "S0000", "errorMsg": None,
            "msgData": {"routeResps": [{"mailNo": mail_no, "routes": list(routes)}]}}


def gateway(inner, code="A1000", message=""):
    return {"apiErrorMsg": message, "apiResponseID": "X1", "apiResultCode": code,
            "apiResultData": json.dumps(inner, ensure_ascii=False) if inner is not None else None}


def run(data, carrier="auto"):
    return normalize_document(json.dumps(data, ensure_ascii=False).encode(), carrier=carrier)


@pytest.mark.parametrize("payload", payloads(FOLDER), ids=lambda p: p.name)
def test_auto_detection_picks_sf_express(payload):
    out = normalize_document(payload.read_bytes(), carrier="auto")
    assert out.ok and out.parser == "sf_express.routes_json" and out.carrier == "sf_express"


def test_bare_and_wrapped_results_read_the_same():
    bare, wrapped = run(result(route())), run(gateway(result(route())))
    assert [e.event_id for e in bare.shipments[0].events] == [e.event_id for e in wrapped.shipments[0].events]


def test_times_are_shanghai_unless_an_offset_is_printed():
    china, printed = run(result(route(when="2025-03-19 01:16:08"),
                                route(when="2025-03-18T20:00:00+09:00"))).shipments[0].events
    assert china.time_basis.value == "zone" and china.occurred_at.isoformat() == "2025-03-18T17:16:08+00:00"
    assert printed.time_basis.value == "offset" and printed.occurred_at.isoformat() == "2025-03-18T11:00:00+00:00"


@pytest.mark.parametrize("code, remark, status, cls, mapped_by", [
    ("54", "顺丰速运 已收取快件", "picked_up", None, "code"),
    ("50", "已派件", "picked_up", None, "code"),
    ("44", "正在为您的快件分配最合适的快递员", "in_transit", None, "code"),
    ("204", "快件交给王师傅，正在派送途中", "out_for_delivery", None, "code"),
    ("80", "已签收", "delivered", None, "code"),
    ("70", "快件派送不成功(因电话无人接听)", "delivery_attempted", "recipient_unavailable", "keyword"),
    ("99", "快件已退回", "returned_to_sender", None, "keyword"),
    ("99", "收方客户拒收", "exception", "refused", "keyword"),
    ("99", "快件正在清关中", "exception", "customs_hold", "keyword"),
    ("99", "快件已清关放行", "in_transit", None, "keyword"),
    ("99", "快件已被【科韵路驿站】代收，请凭取件码取件", "available_for_pickup", None, "keyword"),
    ("99", "Delivered", "delivered", None, "keyword"),
    ("99", "未知事件", "unknown", None, "unknown"),
])
def test_codes_then_remarks(code, remark, status, cls, mapped_by):
    ev = run(result(route(code, remark))).shipments[0].events[0]
    assert ev.status.value == status and ev.provenance.mapped_by.value == mapped_by and ev.carrier_code == code
    assert (ev.exception_class.value if ev.exception_class else None) == cls


def test_errors_are_carrier_errors():
    out = run({"success": False, "errorCode": "8152", "errorMsg": "查询的运单号不属于该客户", "msgData": None})
    assert out.ok and not out.shipments and out.errors[0].message == "8152: 查询的运单号不属于该客户"
    out = run(gateway(None, code="A1004", message="无对应服务权限"))
    assert out.ok and out.errors[0].message == "A1004: 无对应服务权限"
    out = run({"success": True, "errorCode": "S0000", "errorMsg": None, "msgData": {"routeResps": []}})
    assert out.ok and not out.shipments and out.errors[0].kind == "carrier_error"


@pytest.mark.parametrize("bad", [
    {"success": True, "msgData": {"routeResps": "x"}},
    {"success": True, "msgData": {"routeResps": [{"mailNo": {}, "routes": [1]}, {"mailNo": "S1", "routes": [
        {"acceptTime": 5, "opCode": []}, "y"]}]}},
    {"apiResultCode": "A1000", "apiResultData": "{not json"},
    {"apiResultCode": "A1000", "apiResultData": "[1, 2]"},
    {"apiResultCode": "A1000", "apiResultData": "[" * 500 + "]" * 500},
])
def test_odd_shapes_never_raise(bad):
    assert run(bad, carrier="sf_express") is not None
