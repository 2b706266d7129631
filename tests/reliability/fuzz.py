"""schemathesis over the published schema, as a function: for the tests and the soak."""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, openapi
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
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
    negative_data_rejection,
]
SPEECH = "POST /v1/audio/speech"


@dataclass
class FuzzResult:
    """Requests sent per operation and status, and the checks that failed."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for (_, status), n in self.statuses.items() if status >= 500)

    def share(self, operation: str, status: int) -> float:
        """Fraction of ``operation``'s requests answered with ``status``."""
        total = sum(n for (label, _), n in self.statuses.items() if label == operation)
        return self.statuses[(operation, status)] / total if total else 0.0


def fuzz(
    url: str, *, examples: int, modes: tuple[GenerationMode, ...] = tuple(GenerationMode)
) -> FuzzResult:
    """Generate ``examples`` requests per operation and mode against the server at ``url``.

    Every failed check is recorded (not raised), so that one run reports all of them.
    """
    schema = openapi.from_url(f"{url}/openapi.json")
    result = FuzzResult()
    session = requests.Session()
    for loaded in schema.get_all_operations():
        operation = loaded.ok()
        for mode in modes:
            _run(operation, mode, examples, session, result)
    return result


def _run(operation, mode, examples: int, session: requests.Session, result: FuzzResult) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case) -> None:
        response = case.call(session=session, timeout=60)
        result.statuses[(label, response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as exc:  # schemathesis' failures (groups of them, too)
            result.failures.append(f"{label} {response.status_code}: {str(exc)[:400]}")

    # Unsatisfiable: nothing to make invalid (an operation without parameters or body).
    with contextlib.suppress(Unsatisfiable):
        run()
