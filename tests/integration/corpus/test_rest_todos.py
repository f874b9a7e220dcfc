"""tests/corpus/rest_todos: a REST API of `http` events only, in the style of the
Serverless Framework's Python example — path parameters, JSON bodies, DynamoDB numbers
as Decimal, a raised exception as the validation error."""

from __future__ import annotations

from tests.integration.corpus.conftest import RunCorpus


async def test_todos_round_trip(run_corpus: RunCorpus) -> None:
    async with run_corpus("rest_todos") as svc:
        status, _, created = await svc.http("POST", "/dev/todos", {"text": "buy milk"})
        assert status == 200 and created["text"] == "buy milk" and created["checked"] is False
        todo = created["id"]
        status, headers, listed = await svc.http("GET", "/dev/todos")
        assert status == 200 and [t["id"] for t in listed] == [todo]
        assert headers["Content-Type"] == "application/json"
        status, _, updated = await svc.http(
            "PUT", f"/dev/todos/{todo}", {"text": "buy oat milk", "checked": True}
        )
        assert status == 200 and updated["checked"] is True
        assert isinstance(updated["updatedAt"], int)  # a Decimal, written back as JSON
        assert (await svc.http("GET", f"/dev/todos/{todo}"))[2]["text"] == "buy oat milk"
        assert (await svc.http("DELETE", f"/dev/todos/{todo}"))[0] == 200
        assert (await svc.http("GET", f"/dev/todos/{todo}"))[0] == 404


async def test_errors_are_answered_as_a_rest_api_answers_them(run_corpus: RunCorpus) -> None:
    async with run_corpus("rest_todos") as svc:
        # The function raises on a missing field: API Gateway answers 502.
        status, _, body = await svc.http("POST", "/dev/todos", {"title": "no text"})
        assert (status, body) == (502, {"message": "Internal server error"})
        assert any("Couldn't create the todo item." in line for line in svc.logs)
        # No such resource or method: 403, the REST API's answer.
        for method, path in (("GET", "/dev/todos/a/b"), ("PATCH", "/dev/todos/x")):
            status, _, body = await svc.http(method, path)
            assert (status, body) == (403, {"message": "Missing Authentication Token"})
