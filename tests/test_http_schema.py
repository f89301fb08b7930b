"""Property-based tests of the HTTP API against its own OpenAPI schema (schemathesis).

Every operation gets generated requests, valid and invalid, with a valid token: no response may
be a server error, and every response must match the status codes and schemas the API declares.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import hitl_notebook as hitl
from hitl_notebook import testing
from hitl_notebook.http import TokenAuth, create_app
from tests.agents import Assigned, Chooser

# DBOS's queue thread jitters its polls with ``random``, which hypothesis takes for a strategy
# using the global random state while it draws.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
TOKEN = "schema-token-0123"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(runtime: hitl.Runtime) -> schemathesis.BaseSchema:
    """The app's schema, over a database with a few waiting requests."""
    for run in (Assigned.start(["ana"], "Ship?"), Chooser.start()):
        testing.wait_for_request(run)
    app = create_app(hitl.store(), TokenAuth({"bob": TOKEN}), agents=["Chooser"])
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_conforms_to_its_schema(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode
) -> None:
    """No 5xx, only declared status codes, and bodies that match the declared schemas."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 14  # 12 + POST /inbox/messages + POST /requests/{id}/votes
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)

        conforms()
