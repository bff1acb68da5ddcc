"""harness.jsonl, the project's one JSONL reader and appender: bad lines are errors naming file and
line, a killed writer's half line is recovered only in our own files, and no other module reads
JSONL line by line."""

from __future__ import annotations

import ast
import gzip
import json
from pathlib import Path

import pytest

from harness.jsonl import Appender, JsonlFormatError, iter_plain, iter_records, read_plain, read_records

ROOT = Path(__file__).resolve().parents[2]


def _write(path: Path, lines: list[str], *, end: str = "\n") -> Path:
    path.write_text("\n".join(lines) + end, encoding="utf-8")
    return path


# -- headerless (task data, NeMo-Skills, lm-eval) --------------------------------------------------
def test_plain_reader_reads_objects_and_skips_blank_lines(tmp_path):
    path = _write(tmp_path / "problems.jsonl", ['{"id": "a"}', "", "   ", '{"id": "b", "x": [1]}'])
    assert read_plain(path) == [{"id": "a"}, {"id": "b", "x": [1]}]
    assert [n for n, _ in iter_plain(path)] == [1, 4]
    with gzip.open(tmp_path / "out.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write('{"id": "z"}\n')
    assert read_plain(tmp_path / "out.jsonl.gz") == [{"id": "z"}]
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b'\xef\xbb\xbf{"id": "a"}\n')
    assert read_plain(bom) == [{"id": "a"}]


@pytest.mark.parametrize("bad, message", [
    ('{"id": "b"', r"bad\.jsonl:3: not valid JSON"),
    ("[1, 2]", r"bad\.jsonl:3: expected a JSON object, got list"),
    ("null", r"bad\.jsonl:3: expected a JSON object, got NoneType"),
    ("[" * 100_000, r"bad\.jsonl:3: not valid JSON"),
])
def test_a_bad_line_in_the_middle_is_an_error_naming_file_and_line(tmp_path, bad, message):
    path = _write(tmp_path / "bad.jsonl", ['{"id": "a"}', "", bad, '{"id": "c"}'])
    with pytest.raises(JsonlFormatError, match=message):
        read_plain(path)
    with pytest.raises(JsonlFormatError, match=message):
        read_plain(path, partial_tail=True)  # tolerance covers the last line only


def test_invalid_utf8_is_an_error_naming_file_and_line(tmp_path):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"id": "a"}\n{"id": "caf\xe9"}\n')
    with pytest.raises(JsonlFormatError, match=r"latin1\.jsonl:2: not valid UTF-8 \(byte 0xe9"):
        read_plain(path)
    with pytest.raises(JsonlFormatError, match=r"latin1\.jsonl:2: not valid UTF-8"):
        list(iter_plain(path))


def test_a_foreign_file_with_a_half_written_last_line_is_an_error(tmp_path):
    path = _write(tmp_path / "output-rs0.jsonl", ['{"id": "a"}', '{"id": "b", "gen'], end="")
    with pytest.raises(JsonlFormatError, match=r"output-rs0\.jsonl:2: not valid JSON"):
        read_plain(path)


def test_a_corrupt_gzip_file_is_a_format_error(tmp_path):
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"id": "a"}\n' * 100)[:40])
    with pytest.raises(JsonlFormatError, match=r"x\.jsonl\.gz: unreadable"):
        read_plain(path)


# -- our own append-only files -----------------------------------------------------------------------
def test_half_written_tail_of_our_own_file_is_recovered_and_truncated(tmp_path):
    path = tmp_path / "candidates.jsonl"
    with Appender(path, "candidates", {"pool_key": "k"}) as out:
        out.write_many([{"i": 0}, {"i": 1}])
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"i": 2, "text": "cut by a ki')  # a killed writer: no newline
    header, rows = read_records(path, "candidates")
    assert header["kind"] == "candidates" and header["pool_key"] == "k"
    assert [r["i"] for r in rows] == [0, 1] and [r["_line"] for r in rows] == [2, 3]
    assert [r["i"] for r in iter_records(path, "candidates")] == [0, 1]
    assert [o["i"] for o in read_plain(path, partial_tail=True)[1:]] == [0, 1]
    with Appender(path, "candidates", {"pool_key": "k"}) as out:  # the next writer drops the half line
        out.write({"i": 2})
    assert [r["i"] for r in read_records(path, "candidates")[1]] == [0, 1, 2]
    assert path.read_text(encoding="utf-8").count("cut by") == 0


def test_a_reader_ignores_what_a_concurrent_writer_appends(tmp_path):
    path = _write(tmp_path / "judge.jsonl", ['{"i": 0}', '{"i": 1}'])
    rows = iter_plain(path, partial_tail=True)
    assert next(rows) == (1, {"i": 0})
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"i": 2}\n{"i": 3, "half')  # a writer mid-line while the reader is still reading
    assert list(rows) == [(2, {"i": 1})]


def test_records_need_their_header(tmp_path):
    plain = _write(tmp_path / "plain.jsonl", ['{"id": "a"}'])
    with pytest.raises(JsonlFormatError, match=r"plain\.jsonl:1: header must have kind='grades'"):
        read_records(plain, "grades")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(JsonlFormatError, match="no header line"):
        read_records(empty, "grades")
    newer = _write(tmp_path / "newer.jsonl", [json.dumps({"schema": 10**6, "kind": "grades"})])
    with pytest.raises(JsonlFormatError, match="newer than this harness"):
        read_records(newer, "grades")


# -- no other JSONL reader in the source tree ------------------------------------------------------
SCANNED = ("harness", "tasks", "trainers", "bench")

# json.loads inside a loop that is NOT reading a JSONL file: (file, enclosing function) -> why.
NOT_JSONL = {
    ("harness/grading/code_grader.py", "make"):
        "LiveCodeBench functional test input: one JSON argument per line of a test-case string",
    ("tasks/code_tasks.py", "_same_input"):
        "compares two LiveCodeBench functional inputs (one JSON value per line of a string)",
}


_WHOLE_FILE = {"read_text", "read_bytes", "read", "open"}  # json.loads(path.read_text()): one document
_LINES = {"splitlines", "readline", "readlines"}


def _is_json_loads(node: ast.AST) -> bool:
    func = node.func if isinstance(node, ast.Call) else None
    if isinstance(func, ast.Name):
        return func.id == "loads"  # from json import loads
    return (isinstance(func, ast.Attribute) and func.attr == "loads" and isinstance(func.value, ast.Name)
            and func.value.id in ("json", "orjson", "ujson"))


def _targets(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _line_derived(expr: ast.AST, lines: set[str]) -> bool:
    """Whether expr is built from a loop variable (a line) or from a splitlines()/readline() call;
    a whole-file read (x.read_text()) and a record's field (row["key"]) are not lines."""
    if isinstance(expr, ast.Name):
        return expr.id in lines
    if isinstance(expr, ast.Call):
        func = expr.func
        if isinstance(func, ast.Attribute):
            if func.attr in _LINES:
                return True
            if func.attr in _WHOLE_FILE:
                return False
            return _line_derived(func.value, lines) or any(_line_derived(a, lines) for a in expr.args)
        return any(_line_derived(a, lines) for a in expr.args)
    if isinstance(expr, ast.Subscript):
        key = expr.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return False
        return _line_derived(expr.value, lines)
    return any(_line_derived(child, lines) for child in ast.iter_child_nodes(expr))


def _line_readers(source: str) -> list[tuple[int, str, str]]:
    """(line, function, what) for each place that parses JSON line by line: json.loads of a loop
    variable (or of a value computed from one), JSONDecoder.raw_decode, read_json(lines=...)."""
    found: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, function: str, lines: set[str]) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function, lines = node.name, set()
        if isinstance(node, (ast.For, ast.AsyncFor)):
            lines = lines | _targets(node.target)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            lines = lines | {name for gen in node.generators for name in _targets(gen.target)}
        if isinstance(node, ast.Assign) and lines and _line_derived(node.value, lines):
            lines |= {name for target in node.targets for name in _targets(target)}  # text = line.decode()
        if isinstance(node, ast.Call):
            func = node.func
            if _is_json_loads(node) and node.args and _line_derived(node.args[0], lines):
                found.append((node.lineno, function, "json.loads of a line"))
            if isinstance(func, ast.Attribute) and func.attr == "raw_decode":
                found.append((node.lineno, function, "JSONDecoder.raw_decode"))
            if isinstance(func, ast.Attribute) and func.attr == "read_json" and any(
                    k.arg == "lines" for k in node.keywords):
                found.append((node.lineno, function, "read_json(lines=...)"))
        for child in ast.iter_child_nodes(node):
            visit(child, function, lines)

    visit(ast.parse(source), "<module>", set())
    return found


def test_the_scanner_finds_the_usual_shapes_of_a_jsonl_reader():
    readers = _line_readers(
        "import json\n"
        "def a(path):\n    with open(path) as h:\n        for line in h:\n"
        "            rows.append(json.loads(line))\n"
        "def b(path):\n    return [json.loads(l) for l in path.read_text().splitlines()[1:]]\n"
        "def c(h):\n    for raw in h:\n        text = raw.decode()\n        yield json.loads(text.strip())\n"
        "def d(h):\n    while True:\n        obj = json.loads(h.readline())\n"
        "def e(text):\n    return json.loads(text)\n"  # one JSON document: not a reader
        "def f(paths):\n    return [json.loads(p.read_text()) for p in paths]\n"  # whole files
        "def g(rows):\n    return [json.loads(r['metadata']) for r in rows]\n")  # a field of a record
    assert [f for _, f, _ in readers] == ["a", "b", "c", "d"]


def test_no_jsonl_reader_outside_harness_jsonl():
    offenders = []
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "harness/jsonl.py":
                continue
            for line, function, what in _line_readers(path.read_text(encoding="utf-8")):
                if (rel, function) not in NOT_JSONL:
                    offenders.append(f"{rel}:{line} ({function}): {what}")
    assert not offenders, ("read JSONL with harness.jsonl (read_records/iter_records for our files, "
                           "read_plain/iter_plain for headerless ones):\n" + "\n".join(offenders))


def test_the_whitelist_has_no_stale_entries():
    present = set()
    for rel, function in NOT_JSONL:
        source = (ROOT / rel).read_text(encoding="utf-8")
        present |= {(rel, f) for _, f, _ in _line_readers(source) if f == function}
    assert present == set(NOT_JSONL)
