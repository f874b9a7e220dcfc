"""One source for the protocol's facts (wschat_protocol): every copy that cannot import
it — the web page's generated module, serverless.yml's routes, the service's error
classes, the tables in docs/protocol.md — agrees with it, and no other module keeps a
literal copy of its own."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

import wschat_protocol as facts
from client import protocol as client_protocol
from handlers.chat import errors
from handlers.chat.commands import validate_room
from wschat_protocol import web

REPO = Path(__file__).resolve().parents[2]
# Every upper-case name the module defines is a fact.
FACT_NAMES = {n for n in vars(facts) if n.isupper() and not n.startswith("_")}
SCANNED = ("handlers", "client", "bench", "tests")


def test_the_web_module_is_generated_from_the_facts() -> None:
    assert web.TARGET.read_text() == web.module_text(), (
        "client/web/protocol.js is stale: run python -m wschat_protocol.web"
    )
    assert set(web.EXPORTED) <= FACT_NAMES


def test_serverless_routes_are_the_actions() -> None:
    doc = yaml.safe_load((REPO / "serverless.yml").read_text())
    routes = [e["websocket"]["route"] for e in doc["functions"]["message"]["events"]]
    assert sorted(routes) == sorted([*facts.ACTIONS, "$default"])


def test_every_error_code_has_its_error_class_and_no_other() -> None:
    def subclasses(cls: type[errors.ChatError]) -> list[type[errors.ChatError]]:
        found = [cls]
        for sub in cls.__subclasses__():
            found += subclasses(sub)
        return found

    codes = {cls.code for cls in subclasses(errors.ChatError)}
    assert codes == set(facts.ERROR_CODES)


def _table_column(section: str, doc: str) -> list[str]:
    """The backquoted first cells of the first table after the heading `section`."""
    start = doc.index(section)
    table = re.search(r"\n(\|.*\|\n)+", doc[start:])
    assert table, section
    rows = table.group(0).strip().splitlines()[2:]
    return [m.group(1) for row in rows if (m := re.match(r"\|\s*`([^`]+)`", row))]


def test_docs_list_every_action_frame_type_and_error_code() -> None:
    doc = (REPO / "docs" / "protocol.md").read_text()
    assert _table_column("## Frames you send", doc) == list(facts.ACTIONS)
    assert _table_column("## Frames you receive", doc) == list(facts.FRAME_TYPES)
    assert _table_column("### Error codes", doc) == list(facts.ERROR_CODES)
    assert f"`^{facts.ROOM_PATTERN}$`" in doc  # the room pattern as the docs state it


@pytest.mark.parametrize("name", ["abc\n", "abc\r\n", "", "a" * 65, "_x", "a b", "é", None, 5])
def test_a_bad_room_name_is_bad_everywhere(name: object) -> None:
    assert not facts.valid_room(name)
    assert not client_protocol.valid_room(name)
    with pytest.raises((errors.InvalidRoom, errors.BadRequest)):
        validate_room(name)


def web_module_map(function: str, args: list[Any]) -> list[Any]:
    """`args.map(function)` in node, with the web page's generated protocol.js as `m`."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")  # `make test` installs it for npm anyway
    script = (
        f"import({json.dumps(web.TARGET.as_uri())}).then(m => "
        f"console.log(JSON.stringify({json.dumps(args)}.map(a => m.{function}(a)))))"
    )
    out = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    result: list[Any] = json.loads(out.stdout)
    return result


def test_the_web_page_refuses_the_same_room_names() -> None:
    names = ["abc\n", "abc", "a" * 64, "a" * 65, "feed:cpu", "_x", "a b"]
    assert web_module_map("validRoom", names) == [facts.valid_room(n) for n in names]


def test_a_catch_up_cursor_starts_before_the_last_seen_id() -> None:
    last = facts.id_at(1_795_255_200_000)
    cursor = facts.catch_up_cursor(last)
    assert facts.is_message_id(cursor) and cursor < last
    assert facts.id_timestamp_ms(cursor) == 1_795_255_195_000
    # Nothing seen (or nothing usable): the room from its first message.
    assert facts.catch_up_cursor(None) == facts.catch_up_cursor("junk") == facts.FIRST_ID
    assert facts.id_at(0) == facts.FIRST_ID and facts.is_message_id(facts.FIRST_ID)


def test_the_web_page_starts_its_catch_up_where_the_python_clients_do() -> None:
    seen = [facts.id_at(1_795_255_200_000), facts.id_at(3_000), None, "junk", "Z" * 26]
    assert web_module_map("catchUpCursor", seen) == [facts.catch_up_cursor(i) for i in seen]


def _literal(node: ast.expr) -> bool:
    """A value written out (a constant, a tuple of them, arithmetic on them, a regex)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_literal(e) for e in node.elts)
    if isinstance(node, ast.BinOp):
        return _literal(node.left) and _literal(node.right)
    if isinstance(node, ast.Call):  # re.compile("...")
        return bool(node.args) and all(_literal(a) for a in node.args)
    return False


def test_no_python_module_keeps_its_own_copy_of_a_fact() -> None:
    copies = []
    for top in SCANNED:
        for path in (REPO / top).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for node in tree.body:
                targets = (
                    node.targets
                    if isinstance(node, ast.Assign)
                    else [node.target]
                    if isinstance(node, ast.AnnAssign) and node.value is not None
                    else []
                )
                value = getattr(node, "value", None)
                for target in targets:
                    if (
                        isinstance(target, ast.Name)
                        and target.id in FACT_NAMES
                        and value is not None
                        and _literal(value)
                    ):
                        copies.append(f"{path.relative_to(REPO)}:{node.lineno} {target.id}")
    assert copies == []


def test_no_other_file_spells_out_the_room_pattern() -> None:
    # The character class of the pattern, as any copy (Python or JS) would write it.
    needle = facts.ROOM_PATTERN.split("]", 1)[1].split("{", 1)[0]
    assert needle == "[A-Za-z0-9_.:-]"
    found = []
    for top in SCANNED:
        for path in (REPO / top).rglob("*"):
            if path.suffix not in (".py", ".js", ".html") or path == web.TARGET:
                continue
            if path.resolve() == Path(__file__).resolve():
                continue
            if needle in path.read_text():
                found.append(str(path.relative_to(REPO)))
    assert found == []


def test_no_web_script_keeps_its_own_copy_of_a_fact() -> None:
    copies = []
    for path in (REPO / "client" / "web").glob("*.js"):
        if path == web.TARGET:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r"\s*(?:export\s+)?const\s+([A-Z_]+)\s*=\s*([\"'/\d\[])", line)
            if m and m.group(1) in FACT_NAMES:
                copies.append(f"{path.name}:{number} {m.group(1)}")
    assert copies == []
