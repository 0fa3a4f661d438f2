"""Task files: S3 frontmatter, safe parsing, clear errors on bad fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatchd.task import TaskError, parse_task_text
from dispatchd.text import for_log, sanitize_for_terminal


def parse(text: str):
    return parse_task_text(text, id="i", name="t.md", project=Path("/p"), path=Path("/p/t.md"))


def test_frontmatter_fields():
    t = parse("---\ntitle: Fix\npriority: HIGH\ntags: [a, b]\nneeds_claude_code: true\n"
              "model: haiku\nsession: auto-3\ncustom: 1\n---\n\nBody here.\n")
    assert (t.title, t.priority, t.tags, t.needs_claude_code) == ("Fix", "high", ("a", "b"), True)
    assert (t.model, t.session, t.body, t.meta["custom"]) == ("haiku", "auto-3", "Body here.", 1)
    assert not t.warnings


def test_no_frontmatter_is_a_task_with_the_whole_text_and_a_warning():
    t = parse("just do it\n")
    assert t.body == "just do it" and t.priority == "default"
    assert t.warnings == ("no frontmatter: the whole file is the body, priority default",)


@pytest.mark.parametrize("text", ["---\ntitle: [broken\n---\nbody", "---\ntitle: x\nno end\n"])
def test_broken_frontmatter_is_still_a_task_with_a_warning(text):
    t = parse(text)
    assert t.body == text.strip() and t.warnings


@pytest.mark.parametrize(("text", "reason"), [
    ("---\npriority: urgent\n---\nx", "invalid field priority: 'urgent'"),
    ("---\nmodel: --settings=evil.json\n---\nx", "invalid field model"),
    ("---\nmodel: opus; rm -rf ~\n---\nx", "invalid field model"),
    ("---\nmodel: no\n---\nx", "invalid field model: False"),
    ("---\npriority: 010\n---\nx", "invalid field priority: 8"),
    ("---\ntags: {a: 1}\n---\nx", "invalid field tags"),
    ("---\nneeds_claude_code: maybe\n---\nx", "invalid field needs_claude_code"),
    ("---\n- a\n- b\n---\nx", "must be a mapping"),
    ("---\nmodel: a\nmodel: b\n---\nx", "duplicate key 'model'"),
    ("---\na: &x [1]\nb: *x\n---\nx", "aliases"),
    ("---\nx: !!python/object/apply:os.system [id]\n---\nx", "frontmatter refused"),
])
def test_bad_fields_are_clear_errors(text, reason):
    with pytest.raises(TaskError) as err:
        parse(text)
    assert reason in str(err.value)


def test_sanitize_for_terminal_drops_escapes_and_controls():
    text = "a\r\nb\x1b[201~c\x07d\x9be\x00f\tg\n"
    assert sanitize_for_terminal(text) == "a\nb[201~cdef\tg\n"


def test_for_log_escapes_control_characters():
    assert for_log("plain.md") == "plain.md"
    assert for_log("evil\n\x1b]52;c;x\x07.md") == repr("evil\n\x1b]52;c;x\x07.md")


def test_pathological_frontmatter_is_refused_not_a_crash():
    with pytest.raises(TaskError, match="nested too deeply"):
        parse("---\nx: " + "[" * 5000 + "]" * 5000 + "\n---\nb")
    with pytest.raises(TaskError, match="more than 16384"):
        parse("---\nx: " + "y" * 20000 + "\n---\nb")


@pytest.mark.parametrize("text", ['{"priority": "critical", "model": "--x"}\nbody',
                                  '+++\npriority = "critical"\n+++\nbody'])
def test_json_and_toml_frontmatter_are_never_parsed(text):
    with pytest.raises(TaskError, match=r"(JSON|TOML) frontmatter is not read: write the fields "
                                        r"as YAML between '---' lines"):
        parse(text)
    assert parse("{braces} in a plain body are fine").body == "{braces} in a plain body are fine"


def test_yaml_dates_and_nul_bytes():
    with pytest.raises(TaskError, match="invalid field title"):
        parse("---\ntitle: 2024-01-01\n---\nx")
    with pytest.raises(TaskError, match=r"invalid field title: expected text, got 8 \(put the"):
        parse("---\ntitle: 010\n---\nx")  # YAML 1.1 octal
    with pytest.raises(TaskError, match="got False"):
        parse("---\ntitle: no\n---\nx")
    assert parse("---\ntitle: '010'\n---\nx").title == "010"
    assert sanitize_for_terminal(parse("a\x00b").body) == "ab"
