"""Every service's OpenAPI document is whole: each $ref points at a schema that is there."""

import json
import re

import pytest

from services.email.api import create_app as email_app
from services.ingest.api import create_app as ingest_app
from services.reports.api import create_app as reports_app


@pytest.mark.parametrize("create_app", [ingest_app, email_app, reports_app])
def test_every_reference_resolves(create_app) -> None:
    document = create_app().openapi()
    references = set(re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)))
    assert references
    assert references <= set(document["components"]["schemas"])
