"""Tool schema cleaning and tool-name sanitization."""

import copy
import re

import pytest

from adapter.translate.tool_schema import (
    ToolNameMap,
    clean_schema,
    is_valid_tool_name,
    sanitize_tool_name,
)

OPENAI_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param(None, {"type": "object", "properties": {}}, id="none"),
        pytest.param(True, {"type": "object", "properties": {}}, id="boolean-schema"),
        pytest.param({}, {"type": "object", "properties": {}}, id="empty"),
        pytest.param({"type": "object"}, {"type": "object", "properties": {}}, id="missing-properties"),
        pytest.param(
            {"type": "object", "required": ["a"]},
            {"type": "object", "properties": {}},
            id="required-without-properties-dropped",
        ),
        pytest.param({"type": "string"}, {"type": "object", "properties": {}}, id="non-object-top"),
        pytest.param(
            {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "$id": "urn:x",
                "$comment": "c",
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "required": ["a"],
                "additionalProperties": False,
                "defer_loading": True,
                "cache_control": {"type": "ephemeral"},
            },
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "required": ["a"],
                "additionalProperties": False,
            },
            id="meta-keys-dropped",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {
                    "n": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
                    "m": {"type": "integer", "exclusiveMaximum": 5, "multipleOf": 2},
                },
            },
            {
                "type": "object",
                "properties": {
                    "n": {"type": "number", "maximum": 10},
                    "m": {"type": "integer"},
                },
            },
            id="exclusive-bounds-dropped",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {
                    "when": {"type": "string", "format": "date-time"},
                    "day": {"type": "string", "format": "date"},
                    "at": {"type": "string", "format": "time"},
                    "mail": {"type": "string", "format": "email"},
                    "link": {"type": "string", "format": "uri"},
                    "id": {"type": "string", "format": "uuid"},
                    "ref": {"type": "string", "format": "uri-reference"},
                    "host": {"type": "string", "format": "hostname"},
                    "odd": {"type": "string", "format": ["x"]},
                },
            },
            {
                "type": "object",
                "properties": {
                    "when": {"type": "string", "format": "date-time"},
                    "day": {"type": "string", "format": "date"},
                    "at": {"type": "string", "format": "time"},
                    "mail": {"type": "string", "format": "email"},
                    "link": {"type": "string", "format": "uri"},
                    "id": {"type": "string", "format": "uuid"},
                    "ref": {"type": "string"},
                    "host": {"type": "string"},
                    "odd": {"type": "string"},
                },
            },
            id="formats",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {
                    "tags": {
                        "type": "array",
                        "items": {"type": "string", "minLength": 1, "maxLength": 9},
                        "minItems": 1,
                        "maxItems": 3,
                        "uniqueItems": True,
                    },
                    "map": {
                        "type": "object",
                        "propertyNames": {"pattern": "^[a-z]+$"},
                        "additionalProperties": {"type": "integer", "minimum": 0},
                    },
                    "mode": {"enum": ["a", "b"], "default": "a", "description": "d"},
                    "fixed": {"const": 3, "title": "T"},
                    "maybe": {"type": ["string", "null"], "nullable": True},
                    "code": {"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["ABC"]},
                },
            },
            {
                "type": "object",
                "properties": {
                    "tags": {
                        "type": "array",
                        "items": {"type": "string", "minLength": 1, "maxLength": 9},
                        "minItems": 1,
                        "maxItems": 3,
                    },
                    "map": {
                        "type": "object",
                        "additionalProperties": {"type": "integer", "minimum": 0},
                    },
                    "mode": {"enum": ["a", "b"], "default": "a", "description": "d"},
                    "fixed": {"const": 3, "title": "T"},
                    "maybe": {"type": ["string", "null"], "nullable": True},
                    "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
                },
            },
            id="nested-keywords",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {
                    "v": {
                        "anyOf": [{"type": "string", "format": "regex"}, {"type": "null"}],
                        "oneOf": [True, {"type": "integer", "$comment": "x"}],
                        "allOf": [{"description": "a"}],
                        "not": {"type": "boolean"},
                    }
                },
            },
            {
                "type": "object",
                "properties": {
                    "v": {
                        "anyOf": [{"type": "string"}, {"type": "null"}],
                        "oneOf": [{}, {"type": "integer"}],
                        "allOf": [{"description": "a"}],
                    }
                },
            },
            id="combinators",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {
                    # Property *names* are data, not keywords: they must survive.
                    "$schema": {"type": "string"},
                    "format": {"type": "string"},
                    "defer_loading": {"type": "boolean"},
                },
                "required": ["format", "missing"],
            },
            {
                "type": "object",
                "properties": {
                    "$schema": {"type": "string"},
                    "format": {"type": "string"},
                    "defer_loading": {"type": "boolean"},
                },
                "required": ["format"],
            },
            id="property-names-kept-required-filtered",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {
                    "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]},
                    "one": {"type": "array", "items": [{"type": "string"}]},
                    "any": {"type": "array", "items": True},
                },
            },
            {
                "type": "object",
                "properties": {
                    "pair": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "one": {"type": "array", "items": {"type": "string"}},
                    "any": {"type": "array", "items": {}},
                },
            },
            id="tuple-items",
        ),
        pytest.param(
            {
                "type": "object",
                "properties": {
                    "n": {"type": "integer", "minimum": True, "maxLength": -1, "description": 5},
                    "t": {"type": 7},
                },
            },
            {"type": "object", "properties": {"n": {"type": "integer"}, "t": {}}},
            id="ill-typed-keyword-values-dropped",
        ),
    ],
)
def test_clean_schema(schema, expected):
    before = copy.deepcopy(schema)
    assert clean_schema(schema) == expected
    assert schema == before  # input untouched


def test_refs_are_inlined():
    schema = {
        "type": "object",
        "$defs": {
            "Point": {
                "type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                "required": ["x", "y"],
            }
        },
        "definitions": {"Name": {"type": "string", "format": "hostname"}},
        "properties": {
            "at": {"$ref": "#/$defs/Point", "description": "where"},
            "name": {"$ref": "#/definitions/Name"},
            "remote": {"$ref": "https://example.com/schema.json"},
            "dangling": {"$ref": "#/$defs/Nope"},
        },
    }
    before = copy.deepcopy(schema)
    assert clean_schema(schema) == {
        "type": "object",
        "properties": {
            "at": {
                "type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
                "required": ["x", "y"],
                "description": "where",
            },
            "name": {"type": "string"},
            "remote": {},
            "dangling": {},
        },
    }
    assert schema == before


def test_recursive_ref_is_cut():
    schema = {
        "type": "object",
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "value": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
        "properties": {"root": {"$ref": "#/$defs/Node"}},
    }
    cleaned = clean_schema(schema)
    root = cleaned["properties"]["root"]
    assert root["properties"]["value"] == {"type": "string"}
    assert root["properties"]["children"] == {"type": "array", "items": {}}


def test_deep_nesting_is_bounded():
    schema = leaf = {"type": "object", "properties": {}}
    for _ in range(500):
        child = {"type": "object", "properties": {}}
        leaf["properties"]["c"] = child
        leaf = child
    cleaned = clean_schema(schema)  # no RecursionError
    depth = 0
    node = cleaned
    while node.get("properties", {}).get("c"):
        node = node["properties"]["c"]
        depth += 1
    assert 10 < depth < 100


def test_output_shares_no_dicts_with_input():
    inner = {"type": "string"}
    schema = {"type": "object", "properties": {"a": inner}}
    cleaned = clean_schema(schema)
    assert cleaned["properties"] is not schema["properties"]
    assert cleaned["properties"]["a"] is not inner
    cleaned["properties"]["a"]["type"] = "integer"
    assert inner == {"type": "string"}


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("Read", "Read", id="plain"),
        pytest.param("mcp__github__create-issue", "mcp__github__create-issue", id="mcp"),
        pytest.param("a.b/c d", "a_b_c_d", id="odd-chars"),
        pytest.param("héllo", "h_llo", id="non-ascii"),
        pytest.param("", "tool", id="empty"),
        pytest.param("x" * 64, "x" * 64, id="exactly-64"),
    ],
)
def test_sanitize_tool_name(name, expected):
    assert sanitize_tool_name(name) == expected


def test_long_names_get_a_hash_suffix():
    a = sanitize_tool_name("mcp__server__" + "a" * 80)
    b = sanitize_tool_name("mcp__server__" + "a" * 79 + "b")
    assert len(a) == len(b) == 64
    assert a != b
    assert a.startswith("mcp__server__aaa")
    assert OPENAI_NAME.fullmatch(a) and OPENAI_NAME.fullmatch(b)
    assert sanitize_tool_name("mcp__server__" + "a" * 80) == a  # deterministic


def test_is_valid_tool_name():
    assert is_valid_tool_name("Bash")
    assert not is_valid_tool_name("")
    assert not is_valid_tool_name("a b")
    assert not is_valid_tool_name("x" * 65)
    assert not is_valid_tool_name("Bash\n")


def test_name_map_keeps_valid_names_and_dedupes():
    names = ToolNameMap(["a.b", "a_b", "c/d", "c.d", "Read"])
    # The valid name "a_b" is reserved first; "a.b" must not steal it.
    assert names.upstream("a_b") == "a_b"
    assert names.upstream("Read") == "Read"
    ab = names.upstream("a.b")
    assert ab != "a_b" and ab.startswith("a_b_")
    cd1, cd2 = names.upstream("c/d"), names.upstream("c.d")
    assert cd1 == "c_d" and cd2 != cd1 and cd2.startswith("c_d_")
    assert names.changed() == {ab: "a.b", cd1: "c/d", cd2: "c.d"}
    upstream = [names.upstream(n) for n in ["a.b", "a_b", "c/d", "c.d", "Read"]]
    assert len(set(upstream)) == 5
    assert all(OPENAI_NAME.fullmatch(u) for u in upstream)


def test_name_map_assigns_late_names_uniquely():
    names = ToolNameMap(["x_y"])
    late = names.upstream("x.y")
    assert late != "x_y" and OPENAI_NAME.fullmatch(late)
    assert names.upstream("x.y") == late
    assert names.changed() == {late: "x.y"}


def test_name_map_is_stable_across_turns():
    first = ToolNameMap(["mcp.tool/a", "Read", "mcp.tool/b"])
    second = ToolNameMap(["mcp.tool/a", "Read", "mcp.tool/b"])
    assert first.changed() == second.changed()
