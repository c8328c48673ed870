"""Schemathesis fuzzes the JSON API from its own OpenAPI document, /api/v1/openapi.json.

For every operation the document lists, requests generated from it (valid and invalid: bodies,
path and query parameters) get no 5xx, whether they carry a finance token (which may do
everything) or a client council's token (which may only read its own data): bad input gets a
4xx. Every answer is also checked against the document: its status is one the operation
documents, its content type and headers (Retry-After on a 429) are those documented for that
status, and its body conforms to that status's schema, the same schema that shaped it.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(autouse=True)
def node_id_for_schemathesis(request):
    """schemathesis 4.32's from_fixture reads the private `_nodeid`, which pytest 9.2 dropped."""
    request.node._nodeid = request.node.nodeid


@pytest.fixture(params=["finance", "wyr"])
def who(request) -> str:
    """Whose bearer token the generated requests carry."""
    return request.param


@pytest.fixture
def api_schema(app, who):
    """The document as this test's app serves it (so once for each of `who`)."""
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25)  # schemathesis itself turns Hypothesis' deadline off
def test_every_generated_request_gets_a_documented_answer(case, people, who):
    headers = {"Authorization": f"Bearer {people[who]['token']}"}
    case.call_and_validate(headers=headers, checks=CHECKS)
