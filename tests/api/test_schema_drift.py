"""docs/openapi.yaml is the schema the code generates: a change to the API without it fails here."""

from pathlib import Path

from django.core.management import call_command

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"


def test_committed_schema_matches_the_code(tmp_path):
    generated = tmp_path / "openapi.yaml"
    call_command("spectacular", "--file", str(generated), "--validate", "--fail-on-warn")
    assert generated.read_text() == COMMITTED.read_text(), (
        "The API changed but docs/openapi.yaml did not. Regenerate it with "
        "`python manage.py spectacular --file docs/openapi.yaml` and commit it."
    )
