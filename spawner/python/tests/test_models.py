"""The service's documents as the shim parses them, malformed ones above all."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest

from kubedesk_spawner import ServiceError
from kubedesk_spawner._errors import MalformedAnswer
from kubedesk_spawner._models import (
    CreateRequest,
    ErrorBody,
    ProgressEvent,
    Session,
    decode,
    sessions_from_json,
)

SESSION = {"user": "alice", "server": "", "status": "running", "url": "http://10.0.0.7:8888"}


def test_a_session_reads_with_what_the_shim_uses():
    doc = {
        **SESSION,
        "message": "Desktop answers",
        "profile": "desktop",  # not used by the shim: ignored
        "started_at": "2026-01-17T10:00:00Z",
        "some_future_field": {"nested": True},
    }
    s = Session.from_json(doc)
    assert s == Session(
        user="alice",
        server="",
        status="running",
        url="http://10.0.0.7:8888",
        message="Desktop answers",
    )
    assert s.alive
    assert Session.from_json({"user": "bob", "status": "stopped", "exit_code": 3}).exit_code == 3
    # null is absent; a missing server is the default server.
    assert Session.from_json({"user": "bob", "status": "failed", "url": None}).server == ""
    assert not Session.from_json({"user": "bob", "status": "failed"}).alive
    # A status the shim does not know is kept: poll() decides what it means.
    assert Session.from_json({"user": "bob", "status": "hibernating"}).status == "hibernating"


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        pytest.param(["a", "list"], "a session that is a list, not an object", id="list"),
        pytest.param("running", "a session that is a string, not an object", id="string"),
        pytest.param(None, "a session that is null, not an object", id="null"),
        pytest.param(3, "a session that is a number, not an object", id="number"),
        pytest.param({"user": "alice"}, "a session without 'status'", id="no-status"),
        pytest.param({"status": "running"}, "a session without 'user'", id="no-user"),
        pytest.param(
            {"user": "alice", "status": 1}, "'status' is a number, not a string", id="status-int"
        ),
        pytest.param(
            {"user": ["alice"], "status": "running"},
            "'user' is a list, not a string",
            id="user-list",
        ),
        pytest.param(
            {"user": "alice", "status": "stopped", "exit_code": "3"},
            "'exit_code' is a string, not an integer",
            id="exit-code-string",
        ),
        pytest.param(
            {"user": "alice", "status": "stopped", "exit_code": True},
            "'exit_code' is a boolean, not an integer",
            id="exit-code-bool",
        ),
        pytest.param(
            {"user": "alice", "status": "stopped", "exit_code": 1.5},
            "'exit_code' is a number, not an integer",
            id="exit-code-float",
        ),
        pytest.param(
            {**SESSION, "url": {"host": "10.0.0.7"}},
            "'url' is an object, not a string",
            id="url-object",
        ),
    ],
)
def test_a_malformed_session_is_a_service_error_that_says_what(doc, says):
    with pytest.raises(MalformedAnswer) as info:
        Session.from_json(doc)
    assert isinstance(info.value, ServiceError)
    assert says in str(info.value)
    assert str(info.value).startswith("The spawner service sent ")


@pytest.mark.parametrize(
    "text", ["", "<html>502 Bad Gateway</html>", '{"user": "alice",', "\xff\xfe"]
)
def test_a_session_that_is_not_json_says_so(text):
    with pytest.raises(MalformedAnswer, match="a session that is not JSON"):
        Session.from_text(text)


def test_the_excerpt_of_a_long_foreign_body_is_short():
    with pytest.raises(MalformedAnswer) as info:
        decode("<html>" + "x" * 10_000, "a session")
    assert len(str(info.value)) < 200


def test_a_list_of_sessions_reads_every_item_or_none():
    assert sessions_from_json([SESSION, {**SESSION, "server": "gpu", "status": "stopped"}]) == [
        Session.from_json(SESSION),
        Session(user="alice", server="gpu", status="stopped", url="http://10.0.0.7:8888"),
    ]
    assert sessions_from_json([]) == []
    with pytest.raises(MalformedAnswer, match="a list of sessions that is an object, not a list"):
        sessions_from_json({"sessions": [SESSION]})
    with pytest.raises(MalformedAnswer, match=r"a session \(item 1 of the list\) without 'user'"):
        sessions_from_json([SESSION, {"status": "running"}])


def test_progress_events_read_with_their_fields():
    assert ProgressEvent.from_data("progress", '{"progress": 40, "message": "Pulling image"}') == (
        ProgressEvent(message="Pulling image", progress=40)
    )
    assert ProgressEvent.from_data("ready", '{"progress": 100, "message": "Ready", "url": "u"}').url
    failed = ProgressEvent.from_data("failed", '{"message": "Back-off", "reason": "image_pull"}')
    assert (failed.message, failed.reason, failed.progress) == ("Back-off", "image_pull", None)
    assert ProgressEvent.from_data("progress", "{}") == ProgressEvent()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        pytest.param("Pulling image", "a progress event that is not JSON", id="text"),
        pytest.param("", "a progress event that is not JSON", id="empty"),
        pytest.param("[40, 'x']", "a progress event that is not JSON", id="bad-json"),
        pytest.param('[40, "x"]', "a progress event that is a list, not an object", id="list"),
        pytest.param('"x"', "a progress event that is a string, not an object", id="string"),
        pytest.param(
            '{"progress": "40%", "message": "x"}', "'progress' is a string, not a number", id="pct"
        ),
        pytest.param(
            '{"progress": true, "message": "x"}', "'progress' is a boolean, not a number", id="bool"
        ),
        pytest.param('{"message": 7}', "'message' is a number, not a string", id="message-int"),
        pytest.param('{"message": "x", "url": 8888}', "'url' is a number, not a string", id="url"),
    ],
)
def test_a_malformed_progress_event_is_a_service_error_that_says_what(data, says):
    with pytest.raises(MalformedAnswer) as info:
        ProgressEvent.from_data("progress", data)
    assert says in str(info.value)


# Every JSON value of a few shapes, in every field: a document reads or is
# a MalformedAnswer, never another exception.
VALUES = [None, True, 0, -1, 2.5, "", "x", [], ["x"], {}, {"a": 1}]


@pytest.mark.parametrize(
    "key", ["user", "server", "status", "url", "message", "reason", "exit_code", "extra"]
)
def test_no_session_field_value_escapes_as_another_error(key):
    for value in VALUES:
        try:
            Session.from_json({**SESSION, key: value})
        except MalformedAnswer:
            pass


def test_no_progress_event_escapes_as_another_error():
    for progress, message, url in itertools.product(VALUES, VALUES, VALUES):
        data = json.dumps({"progress": progress, "message": message, "url": url})
        try:
            ProgressEvent.from_data("ready", data)
        except MalformedAnswer:
            pass


@pytest.mark.parametrize(
    ("status", "body", "code", "message"),
    [
        pytest.param(
            409,
            {"code": "busy", "message": "An operation is in progress."},
            "busy",
            "An operation is in progress.",
            id="service-error",
        ),
        pytest.param(500, {"message": "no code"}, "", "no code", id="no-code"),
        pytest.param(502, "<html>Bad gateway</html>", "", "<html>Bad gateway</html>", id="html"),
        pytest.param(
            503, {"message": ["not", "text"]}, "", '{"message": ["not", "text"]}', id="message-list"
        ),
        pytest.param(504, "", "", "Gateway Timeout", id="empty"),
        pytest.param(599, "", "", "HTTP 599", id="no-reason-phrase"),
        pytest.param(500, b"\xff\xfe", "", "\ufffd\ufffd", id="not-utf8"),
    ],
)
def test_an_error_answer_always_makes_a_message(status, body, code, message):
    if isinstance(body, dict):
        response = httpx.Response(status, content=json.dumps(body).encode())
    elif isinstance(body, bytes):
        response = httpx.Response(status, content=body)
    else:
        response = httpx.Response(status, text=body)
    assert ErrorBody.from_response(response) == ErrorBody(code, message)


def test_a_create_request_is_the_same_body_every_time():
    request = CreateRequest(user_options={"profile": "gpu"}, env={"A": "1"}, start_timeout=120)
    assert request.to_json() == {
        "user_options": {"profile": "gpu"},
        "env": {"A": "1"},
        "start_timeout": 120,
    }
    assert json.dumps(request.to_json()) == json.dumps(request.to_json())
    named = CreateRequest(user_options={}, env={}, start_timeout=60, display_name="GPU desk")
    assert named.to_json()["display_name"] == "GPU desk"
    assert list(named.to_json()) == ["user_options", "env", "start_timeout", "display_name"]
