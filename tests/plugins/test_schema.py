"""Tool schemas derived from plain typed functions, and argument validation against schemas."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Literal

import pytest

from plugins import Tool, schema_from_function
from plugins.schema import validate


def test_google_style_docstring_and_hints_become_the_schema() -> None:
    def search(query: str, limit: int = 5, exact: bool = False, tags: list[str] | None = None):
        """Search the notes.

        Longer explanation that the model should also see.

        Args:
            query: the words to look for.
            limit (int): how many hits
                to return at most.
            exact: match the whole phrase.

        Returns:
            The hits.
        """

    description, schema = schema_from_function(search)
    assert description == "Search the notes.\n\nLonger explanation that the model should also see."
    assert schema == {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "the words to look for."},
            "limit": {
                "type": "integer",
                "description": "how many hits to return at most.",
                "default": 5,
            },
            "exact": {
                "type": "boolean",
                "description": "match the whole phrase.",
                "default": False,
            },
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["query"],
        "additionalProperties": False,
    }


def test_numpy_and_sphinx_styles_document_parameters() -> None:
    def numpy_style(x: float, y: float) -> float:
        """Add two numbers.

        Parameters
        ----------
        x, y : float
            The numbers to add.

        Returns
        -------
        float
        """

    def sphinx_style(path: str) -> str:
        """Read a file.

        :param path: where the file is.
        :returns: its text.
        """

    description, schema = schema_from_function(numpy_style)
    assert description == "Add two numbers."
    assert schema["properties"]["x"]["description"] == "The numbers to add."
    assert schema["properties"]["y"]["description"] == "The numbers to add."
    description, schema = schema_from_function(sphinx_style)
    assert description == "Read a file."
    assert schema["properties"]["path"] == {"type": "string", "description": "where the file is."}


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    x: float
    y: float = 0.0


def test_literals_enums_annotated_mappings_and_dataclasses() -> None:
    def draw(
        shape: Literal["circle", "square"],
        color: Color,
        size: Annotated[int, "side length in pixels"],
        at: Point,
        style: dict[str, str],
    ) -> None:
        """Draw a shape."""

    _, schema = schema_from_function(draw)
    props = schema["properties"]
    assert props["shape"] == {"enum": ["circle", "square"], "type": "string"}
    assert props["color"] == {"enum": ["red", "blue"]}
    assert props["size"] == {"type": "integer", "description": "side length in pixels"}
    assert props["at"] == {
        "type": "object",
        "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
        "required": ["x"],
    }
    assert props["style"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert schema["required"] == ["shape", "color", "size", "at", "style"]


def test_a_type_with_no_json_form_is_refused_at_registration() -> None:
    def bad(data: bytes) -> None:
        """Takes bytes, which JSON cannot carry."""

    with pytest.raises(TypeError, match="unsupported parameter type"):
        Tool.from_function(bad)


def test_tool_names_must_be_valid_function_names() -> None:
    with pytest.raises(ValueError, match="must match"):
        Tool("has space", "", {"type": "object", "properties": {}}, lambda: None)


def test_validation_reports_every_problem_with_its_path() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 1},
            "mode": {"enum": ["fast", "exact"]},
            "items": {"type": "array", "items": {"type": "number"}},
        },
        "required": ["n"],
        "additionalProperties": False,
    }
    assert validate({"n": 3, "mode": "fast", "items": [1, 2.5]}, schema) == []
    problems = validate({"n": True, "mode": "slow", "items": [1, "x"], "extra": 1}, schema)
    assert "$.n: True is not of type 'integer'" in problems
    assert "$.mode: 'slow' is not one of ['fast', 'exact']" in problems
    assert "$.items.1: 'x' is not of type 'number'" in problems
    assert any("('extra' was unexpected)" in p for p in problems)
    assert validate({}, schema) == ["$: 'n' is a required property"]
    assert validate({"n": 0}, schema) == ["$.n: 0 is less than the minimum of 1"]


def test_any_of_accepts_either_branch() -> None:
    schema = {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert validate("a", schema) == [] and validate(3, schema) == []
    assert validate(1.5, schema) == ["$: 1.5 is not valid under any of the given schemas"]
