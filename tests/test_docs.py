"""The documentation generated from the settings table and the field registry is up to date."""

from __future__ import annotations

from pathlib import Path

from appliance import fields

ROOT = Path(__file__).resolve().parents[1]


def test_fields_doc_matches_registry() -> None:
    assert fields.main(["--check", str(ROOT / "docs" / "FIELDS.md")]) == 0, (
        "docs/FIELDS.md is out of date: regenerate the part after the marker with "
        "python -m appliance.fields --markdown"
    )


def test_every_field_has_help_and_a_known_type() -> None:
    fields.load_protocol_fields()
    for field in fields.FIELDS:
        assert field.help.strip(), field.path
        assert field.type in fields.TYPES or field.type in ("float", "seconds"), (field.path, field.type)


def test_expression_names_are_unique() -> None:
    fields.load_protocol_fields()
    names = [f.expr for f in fields.FIELDS]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates
