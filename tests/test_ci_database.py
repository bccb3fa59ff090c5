import os

import pytest
from django.db import connection


@pytest.mark.django_db
def test_the_suite_runs_on_postgresql_when_ci_requires_it():
    if os.environ.get("GATEHOUSE_REQUIRE_POSTGRES") != "1":
        pytest.skip("GATEHOUSE_REQUIRE_POSTGRES is not set: a local run on the default SQLite database")
    assert connection.vendor == "postgresql"
