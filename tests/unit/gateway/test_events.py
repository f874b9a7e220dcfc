"""Event building blocks: times, ids, header and query maps."""

from __future__ import annotations

from infra.apigateway.events import clf_time, header_maps, iso_time, query_maps
from infra.apigateway.ids import api_id_for, is_valid_id, new_id


def test_times_are_aws_formatted() -> None:
    epoch = 1_795_255_200.123  # 2026-11-21 10:00:00.123 UTC
    assert clf_time(epoch) == "21/Nov/2026:10:00:00 +0000"
    assert iso_time(epoch) == "2026-11-21T10:00:00.123Z"


def test_ids_have_the_aws_shape() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 16 and i.endswith("=") and is_valid_id(i) for i in ids)
    assert not any("/" in i or "+" in i for i in ids)  # URL-path safe apart from "="
    assert not is_valid_id("R1kmxc2VNjMCFIA")
    assert not is_valid_id("R1kmxc2V/jMCFIA=")
    api_id = api_id_for("svc", "dev")
    assert api_id == api_id_for("svc", "dev") != api_id_for("svc", "prod")
    assert len(api_id) == 10 and api_id.isalnum() and api_id.islower()


def test_header_and_query_maps_keep_every_value() -> None:
    single, multi = header_maps([("X-A", "1"), ("X-A", "2"), ("Host", "h")])
    assert single == {"X-A": "2", "Host": "h"}
    assert multi == {"X-A": ["1", "2"], "Host": ["h"]}
    single_q, multi_q = query_maps("a=1&a=2&b=&c=x%3Dy")
    assert single_q == {"a": "2", "b": "", "c": "x=y"}
    assert multi_q == {"a": ["1", "2"], "b": [""], "c": ["x=y"]}
