"""KubedeskSpawner against the fake spawner service."""

from __future__ import annotations

import asyncio
from importlib.metadata import entry_points

import httpx
import pytest
from tornado import web

from kubedesk_spawner import KubedeskSpawner, ServiceError, _client, _snapshot

from .conftest import collect
from .fake_service import DEFAULT_STEPS, FakeService, Raw

try:
    from jupyterhub.spawner import SpawnException
except ImportError:
    SpawnException = None

TIMEOUT = 10  # seconds any single spawn in these tests may take


def progress_requests(service: FakeService) -> list[str]:
    return [uri for method, uri, _ in service.requests if uri.endswith("/progress")]


def methods(service: FakeService) -> list[str]:
    return [method for method, uri, _ in service.requests if not uri.endswith("/progress")]


# The events the shim shows for the fake service's scripted spawn, before its
# ready event: its own first one, then the service's steps, with the
# service's 0-100 mapped into [PROGRESS_MIN, PROGRESS_MAX] (1-90).
ASKING = {"message": "Asking the spawner service for a server", "progress": 1}
SERVICE_STEPS = [
    {"message": "Session requested", "progress": 1},
    {"message": "Pod scheduled", "progress": 10},
    {"message": "Pulling image", "progress": 37},
    {"message": "Container started", "progress": 63},
    {"message": "Desktop answers", "progress": 90},
]
LAST_STEP = DEFAULT_STEPS[-1][1]


# -- start and progress -----------------------------------------------------


async def test_start_returns_ready_url_and_progress(service, make_spawner):
    spawner = make_spawner()
    task = spawner.start()
    assert isinstance(task, asyncio.Task)
    events = await collect(spawner)
    assert await asyncio.wait_for(task, TIMEOUT) == service.ready_url

    messages = [e["message"] for e in events]
    for _, step in DEFAULT_STEPS:
        assert step in messages
    progress = [e["progress"] for e in events if "progress" in e]
    assert progress == sorted(progress), "progress never goes back"
    assert max(progress) < 100, "100 is left to the hub's own ready event"
    assert events[-1]["message"] == f"Server started at {service.ready_url}"

    method, uri, body = service.requests[0]
    assert (method, uri) == ("POST", "/api/v1/users/alice/server")
    assert body["user_options"] == {}
    assert body["env"]["JUPYTERHUB_API_TOKEN"] == "server-token"
    assert body["env"]["JUPYTERHUB_SERVICE_PREFIX"] == "/user/alice/"


async def test_start_sends_user_options(service, make_spawner):
    spawner = make_spawner()
    spawner.user_options = {"profile": "small", "image": "jammy"}
    await asyncio.wait_for(spawner.start(), TIMEOUT)
    assert service.requests[0][2]["user_options"] == {"profile": "small", "image": "jammy"}
    assert service.sessions[("alice", "")].profile == "small"


async def test_progress_replays_history_to_every_listener(service, make_spawner):
    spawner = make_spawner()
    task = spawner.start()
    early = asyncio.create_task(collect(spawner))
    await asyncio.wait_for(task, TIMEOUT)
    late = await collect(spawner)  # after the spawn: the whole history, then the end
    assert late == await early
    assert len(late) >= len(DEFAULT_STEPS) + 2


async def test_progress_before_start_is_empty(make_spawner):
    assert await collect(make_spawner()) == []


async def test_failed_event_raises(service, make_spawner):
    service.fail_next = "Back-off pulling image example/desktop:nope"
    spawner = make_spawner()
    task = spawner.start()
    events = await collect(spawner)  # ends, does not raise
    with pytest.raises(ServiceError, match="Back-off pulling image") as info:
        await task
    assert "image_pull" in str(info.value)
    # The steps, and no event for the failure: the hub shows start()'s error.
    assert events == [ASKING, *SERVICE_STEPS]


async def test_a_failed_spawn_is_a_sentence_in_the_hubs_api(service, make_spawner):
    """JupyterHub's REST API shows log_message % args, else a bare 'Internal Server Error'."""
    service.fail_next = "The image could not be pulled."
    with pytest.raises(ServiceError) as info:
        await asyncio.wait_for(make_spawner().start(), TIMEOUT)
    e = info.value
    assert e.log_message % e.args == str(e)
    assert "The image could not be pulled." in e.log_message % e.args


async def test_progress_never_raises_when_the_service_is_unreachable(make_spawner, closed_port):
    # The create is asked again for half of start_timeout, then given up.
    spawner = make_spawner(service_url=f"http://127.0.0.1:{closed_port}", start_timeout=1)
    task = spawner.start()
    events = await collect(spawner)
    with pytest.raises(ServiceError, match="Could not reach the spawner service"):
        await task
    assert events[0]["message"] == "Asking the spawner service for a server"


@pytest.mark.parametrize(
    ("answer", "options", "status", "message"),
    [
        pytest.param(None, {"profile": "nope"}, 400, "There is no profile 'nope'.", id="400-real"),
        pytest.param(
            (413, {"code": "too_large", "message": "The request is too large."}),
            {},
            413,
            "The request is too large.",
            id="413",
        ),
        pytest.param(
            (422, {"code": "invalid_options", "message": "50% of nothing"}),
            {},
            422,
            "50% of nothing",
            id="422-percent-sign",
        ),
    ],
)
async def test_rejections_do_not_count_as_hub_failures(
    service, make_spawner, answer, options, status, message
):
    if answer:
        service.create_answers.append(answer)
    spawner = make_spawner()
    spawner.user_options = options
    task = spawner.start()
    events = await collect(spawner)
    with pytest.raises(web.HTTPError) as info:
        await task
    exc = info.value
    assert exc.status_code == status < 500
    if SpawnException is not None:  # JupyterHub 6
        assert isinstance(exc, SpawnException)
        assert exc.message == message
        assert exc.reason
    else:
        assert exc.log_message % exc.args == message
    assert events == [ASKING], "progress ends quietly after the refused create"


@pytest.mark.parametrize("status", [401, 403])
async def test_bad_token_is_a_platform_error(service, make_spawner, status):
    service.create_answers.append((status, {"code": "unauthorized", "message": "no"}))
    with pytest.raises(ServiceError, match="service_token"):
        await make_spawner().start()


async def test_wrong_token_against_the_service(make_spawner):
    with pytest.raises(ServiceError, match=r"HTTP 401"):
        await make_spawner(service_token="wrong").start()


async def test_5xx_on_create_raises_plain_error(service, make_spawner):
    service.create_answers.append((500, {"code": "internal", "message": "The service failed."}))
    with pytest.raises(ServiceError, match="HTTP 500.*The service failed"):
        await make_spawner().start()


RESTARTING = (503, {"code": "not_ready", "message": "The service is still loading the sessions."})


async def test_create_is_sent_again_while_the_service_restarts(service, make_spawner):
    """503 while the service rebuilds its state: the same create, again, starts the server."""
    service.create_answers += [RESTARTING, RESTARTING]
    spawner = make_spawner()
    assert await asyncio.wait_for(spawner.start(), TIMEOUT) == service.ready_url
    creates = [body for method, _, body in service.requests if method == "POST"]
    assert len(creates) == 3
    assert creates[0] == creates[1] == creates[2], "the very same request: one spawn to the service"


STANDING_BY = (
    503,
    {
        "code": "standby",
        "message": (
            "This replica of the spawner service is standing by; the leader answers. Try again."
        ),
    },
)


async def test_create_is_sent_again_during_a_failover(service, make_spawner):
    """A standby's 503 (issue 17), then the new leader rebuilding: asked again, one spawn."""
    service.create_answers += [STANDING_BY, RESTARTING]
    spawner = make_spawner()
    assert await asyncio.wait_for(spawner.start(), TIMEOUT) == service.ready_url
    creates = [body for method, _, body in service.requests if method == "POST"]
    assert len(creates) == 3
    assert creates[0] == creates[1] == creates[2]


async def test_create_is_sent_again_after_connection_refused(service, make_spawner, monkeypatch):
    """The service was down (SIGKILLed, not yet back) when the hub asked."""
    real = httpx.AsyncClient.request
    refused = []

    async def down_once(self, method, url, **kwargs):
        if method == "POST" and not refused:
            refused.append(url)
            raise httpx.ConnectError("connection refused", request=httpx.Request(method, url))
        return await real(self, method, url, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "request", down_once)
    spawner = make_spawner()
    assert await asyncio.wait_for(spawner.start(), TIMEOUT) == service.ready_url
    assert refused and methods(service).count("POST") == 1


async def test_missing_token_fails_readably(make_spawner):
    with pytest.raises(ServiceError, match="KUBEDESK_SERVICE_TOKEN"):
        await make_spawner(service_token="").start()


async def test_conflict_stops_the_old_server_and_retries(service, make_spawner):
    old = make_spawner()
    await asyncio.wait_for(old.start(), TIMEOUT)
    service.requests.clear()

    spawner = make_spawner()
    task = spawner.start()
    events = await collect(spawner)
    assert await asyncio.wait_for(task, TIMEOUT) == service.ready_url
    assert methods(service) == ["POST", "DELETE", "POST"]
    assert "Stopping the server left from an earlier start" in [e["message"] for e in events]


async def test_conflict_twice_is_a_rejection(service, make_spawner):
    busy = (409, {"code": "busy", "message": "An operation is in progress."})
    service.create_answers += [busy, busy]
    with pytest.raises(web.HTTPError, match="An operation is in progress") as info:
        await make_spawner().start()
    assert info.value.status_code == 409
    assert methods(service) == ["POST", "DELETE", "POST"]


async def test_name_conflict_is_refused_without_a_stop(service, make_spawner):
    # Another user's home volume holds this server's name: stopping "the old
    # server" would stop nothing of this user's, and a retry meets the same.
    message = "This server's name is taken by another user's objects; tell your operator."
    conflict = (409, {"code": "name_conflict", "message": message})
    service.create_answers += [conflict]
    with pytest.raises(web.HTTPError, match="taken by another user") as info:
        await make_spawner().start()
    assert info.value.status_code == 409
    assert methods(service) == ["POST"]


async def test_broken_stream_reconnects_without_repeating_events(service, make_spawner):
    service.break_stream_after = 3
    spawner = make_spawner()
    task = spawner.start()
    events = await collect(spawner)
    assert await asyncio.wait_for(task, TIMEOUT) == service.ready_url
    assert len(progress_requests(service)) == 2
    messages = [e["message"] for e in events]
    assert len(messages) == len(set(messages)), messages


async def test_stream_reconnects_while_the_service_restarts(service, make_spawner):
    restarting = (503, {"code": "starting", "message": "rebuilding state"})
    service.progress_answers += [restarting, restarting]
    spawner = make_spawner()
    assert await asyncio.wait_for(spawner.start(), TIMEOUT) == service.ready_url
    assert len(progress_requests(service)) == 3


async def test_stream_survives_a_dropped_connection(service, make_spawner, monkeypatch):
    # The first progress request fails at the transport level, as when the
    # service's pod is replaced; the next one succeeds.
    real_stream = httpx.AsyncClient.stream
    calls = []

    def flaky_stream(self, method, url, **kwargs):
        calls.append(url)
        if len(calls) == 1:
            url = "http://127.0.0.1:1/unreachable"
        return real_stream(self, method, url, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "stream", flaky_stream)
    spawner = make_spawner()
    assert await asyncio.wait_for(spawner.start(), TIMEOUT) == service.ready_url
    assert len(calls) == 2


async def _lose_session_on_reconnect(service: FakeService, spawner: KubedeskSpawner):
    """Start, and drop the session from the service while its stream is broken."""
    service.release.clear()  # hold the spawn before ready
    service.break_stream_after = 2
    task = spawner.start()

    async def streaming() -> None:
        while not progress_requests(service):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(streaming(), TIMEOUT)
    service.sessions.pop(("alice", ""))
    return task


async def test_session_lost_on_reconnect_is_created_again(service, make_spawner):
    """A 404 of a spawn the hub still waits for (a service that lost it): the same create again."""
    task = await _lose_session_on_reconnect(service, make_spawner())
    service.release.set()
    assert await asyncio.wait_for(task, TIMEOUT) == service.ready_url
    creates = [body for method, _, body in service.requests if method == "POST"]
    assert len(creates) == 2 and creates[0] == creates[1]


async def test_session_lost_and_refused_again_fails_with_a_sentence(service, make_spawner):
    task = await _lose_session_on_reconnect(service, make_spawner())
    service.create_answers.append((409, {"code": "busy", "message": "The server is stopping."}))
    with pytest.raises(ServiceError, match="no longer knows this server"):
        await asyncio.wait_for(task, TIMEOUT)


async def test_progress_ends_when_start_is_cancelled(service, make_spawner):
    """The hub cancels start() at its start_timeout: a listener waiting for the
    next event ends, with the events so far and none of its own."""
    service.release.clear()  # the spawn waits before its ready event
    spawner = make_spawner()
    task = spawner.start()
    seen: list[dict] = []
    caught_up = asyncio.Event()

    async def listen() -> None:
        async for event in spawner.progress():
            seen.append(event)
            if event["message"] == LAST_STEP:
                caught_up.set()

    listener = asyncio.create_task(listen())
    # After the last step the service sends nothing until release, and the
    # listener has asked for the next event (it runs on until it waits) by
    # the time this wakes: only the cancel can end it now.
    await asyncio.wait_for(caught_up.wait(), TIMEOUT)
    task.cancel()
    await asyncio.wait_for(listener, TIMEOUT)
    assert task.cancelled()
    assert seen == [ASKING, *SERVICE_STEPS]


async def test_a_progress_event_that_cannot_be_read_is_skipped(service, make_spawner):
    service.extra_events = [
        ("progress", Raw("Pulling image 2 of 3")),
        ("progress", {"progress": "95%", "message": "Almost there"}),
        ("progress", Raw("[1, 2]")),
    ]
    spawner = make_spawner()
    task = spawner.start()
    events = await collect(spawner)
    assert await asyncio.wait_for(task, TIMEOUT) == service.ready_url
    assert events == [
        ASKING,
        *SERVICE_STEPS,
        {"message": f"Server started at {service.ready_url}", "progress": 95},
    ]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        pytest.param(Raw("image pull failed"), "a failed event that is not JSON", id="text"),
        pytest.param({"message": 7}, "a failed event whose 'message' is a number", id="int"),
        pytest.param(Raw("null"), "a failed event that is null, not an object", id="null"),
    ],
)
async def test_a_failed_event_that_cannot_be_read_fails_the_start_with_a_sentence(
    service, make_spawner, data, says
):
    service.extra_events = [("failed", data)]
    spawner = make_spawner()
    task = spawner.start()
    events = await collect(spawner)  # ends, does not raise
    with pytest.raises(ServiceError, match=says):
        await asyncio.wait_for(task, TIMEOUT)
    assert events == [ASKING, *SERVICE_STEPS]


@pytest.mark.parametrize(
    ("session", "says"),
    [
        pytest.param(None, "gave no URL", id="session-without-url"),
        pytest.param((200, Raw("<html>")), "a session that is not JSON", id="not-json"),
        pytest.param(
            (200, {"user": "alice", "status": "running", "url": 8888}),
            "a session whose 'url' is a number, not a string",
            id="url-a-number",
        ),
    ],
)
async def test_ready_without_a_url_asks_the_session_and_says_what_is_wrong(
    service, make_spawner, session, says
):
    service.ready_url = ""  # neither the ready event nor the session has a URL
    service.ready_data = {"progress": 100, "message": "Server ready"}
    service.status_answer = session
    with pytest.raises(ServiceError, match=says):
        await asyncio.wait_for(make_spawner().start(), TIMEOUT)


async def test_ready_without_a_url_takes_the_sessions(service, make_spawner):
    service.ready_data = {"progress": 100, "message": "Server ready"}
    assert await asyncio.wait_for(make_spawner().start(), TIMEOUT) == service.ready_url


async def test_start_is_bounded_by_start_timeout(service, make_spawner):
    service.release.clear()  # the spawn never gets ready
    spawner = make_spawner(start_timeout=1)
    with pytest.raises(ServiceError, match="did not start within 1 s"):
        await asyncio.wait_for(spawner.start(), TIMEOUT)


# -- poll -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "extra", "expected"),
    [
        ("pending", {}, None),
        ("running", {}, None),
        ("stopping", {}, None),
        ("failed", {}, 1),
        ("stopped", {}, 0),
        ("stopped", {"exit_code": 3}, 3),
        ("mystery", {}, None),
    ],
)
async def test_poll_maps_status(service, make_spawner, status, extra, expected):
    await asyncio.wait_for(make_spawner().start(), TIMEOUT)
    session = service.sessions[("alice", "")]
    session.status = status
    for key, value in extra.items():
        setattr(session, key, value)
    assert await make_spawner().poll() == expected


async def test_poll_without_session_is_stopped(make_spawner):
    assert await make_spawner().poll() == 0


async def test_polls_share_one_snapshot_of_the_sessions(service, make_spawner):
    """50 running servers polled at once: one list request answers all of them."""
    spawners = [make_spawner(name=f"s{i}") for i in range(50)]
    await asyncio.wait_for(asyncio.gather(*(s.start() for s in spawners)), TIMEOUT)
    before = len(service.requests)
    assert await asyncio.gather(*(s.poll() for s in spawners)) == [None] * 50
    asked = [(method, uri) for method, uri, _ in service.requests[before:]]
    assert asked == [("GET", "/api/v1/sessions")], asked


async def test_snapshot_never_ends_a_server_on_its_own(service, make_spawner):
    """A server that stopped after the snapshot, or that it does not show, is asked about."""
    running, stopped = make_spawner(name="a"), make_spawner(name="b")
    await asyncio.wait_for(asyncio.gather(running.start(), stopped.start()), TIMEOUT)
    assert await running.poll() is None  # takes the snapshot: both alive
    await stopped.stop()  # within the snapshot's age
    assert await stopped.poll() == 0
    service.sessions[("alice", "a")].status = "failed"  # behind the snapshot's back
    assert await running.poll() is None  # still alive as far as the snapshot knows
    _snapshot._snapshots.clear()
    assert await running.poll() == 1
    assert await make_spawner(name="never-started").poll() == 0


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param((503, {"code": "starting", "message": "rebuilding state"}), id="503"),
        pytest.param((500, None), id="500-empty"),
        pytest.param((404, None), id="404-not-from-the-service"),
        pytest.param((401, {"code": "unauthorized", "message": "no"}), id="401"),
        pytest.param((200, Raw("<html>It works!</html>")), id="200-not-json"),
        pytest.param((200, ["running"]), id="200-a-list"),
        pytest.param((200, {"user": "alice", "status": 3}), id="200-status-a-number"),
        pytest.param((200, {"status": "stopped"}), id="200-without-user"),
        pytest.param(
            (200, {"user": "alice", "status": "stopped", "exit_code": "0"}),
            id="200-exit-code-a-string",
        ),
    ],
)
async def test_poll_unsure_means_running(service, make_spawner, answer):
    service.status_answer = answer
    assert await make_spawner().poll() is None


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param((200, [{"status": "running"}]), id="an-item-without-user"),
        pytest.param((200, {"sessions": []}), id="not-a-list"),
        pytest.param((200, Raw("[{")), id="not-json"),
        pytest.param((500, Raw("")), id="500"),
    ],
)
async def test_a_snapshot_that_cannot_be_read_leaves_each_poll_to_ask(
    service, make_spawner, answer
):
    running, stopped = make_spawner(name="a"), make_spawner(name="b")
    await asyncio.wait_for(asyncio.gather(running.start(), stopped.start()), TIMEOUT)
    await stopped.stop()
    service.sessions_answer = answer
    _snapshot._snapshots.clear()
    before = len(service.requests)
    assert await running.poll() is None
    assert await stopped.poll() == 0
    asked = [uri for _, uri, _ in service.requests[before:]]
    assert asked == [
        "/api/v1/sessions",
        "/api/v1/users/alice/servers/a",
        "/api/v1/users/alice/servers/b",
    ]


async def test_poll_asks_again_while_the_service_restarts(service, make_spawner):
    """503 while the service rebuilds: asked again, and a failed server is reported failed."""
    await asyncio.wait_for(make_spawner().start(), TIMEOUT)
    service.sessions[("alice", "")].status = "failed"
    service.status_answer = RESTARTING
    _snapshot._snapshots.clear()

    async def back() -> None:
        await asyncio.sleep(0.1)
        service.status_answer = None

    restarted = asyncio.create_task(back())
    assert await make_spawner(restart_timeout=5).poll() == 1, "never reported running"
    await restarted


async def test_poll_connection_refused_means_running(make_spawner, closed_port):
    spawner = make_spawner(service_url=f"http://127.0.0.1:{closed_port}")
    assert await spawner.poll() is None


# -- stop -------------------------------------------------------------------


async def test_stop_is_idempotent(service, make_spawner):
    spawner = make_spawner()
    await asyncio.wait_for(spawner.start(), TIMEOUT)
    await spawner.stop()
    assert await spawner.poll() == 0
    await spawner.stop()  # 204 for a server that is gone
    service.delete_answers.append((404, {"code": "not_found", "message": "No such server."}))
    await spawner.stop(now=True)
    assert methods(service).count("DELETE") == 3


async def test_stop_failure_raises(service, make_spawner):
    service.delete_answers.append((500, {"code": "stop_failed", "message": "pod still there"}))
    with pytest.raises(ServiceError, match="pod still there"):
        await make_spawner().stop()


async def test_stop_is_sent_again_while_the_service_restarts(service, make_spawner):
    """503 (rebuilding) and 504 (the pod is still going) mean: ask again, not failed."""
    spawner = make_spawner()
    await asyncio.wait_for(spawner.start(), TIMEOUT)
    service.delete_answers += [
        RESTARTING,
        (504, {"code": "timeout", "message": "The server is still stopping; ask again."}),
    ]
    await asyncio.wait_for(spawner.stop(), TIMEOUT)
    assert methods(service).count("DELETE") == 3
    assert ("alice", "") not in service.sessions


async def test_stop_is_sent_again_after_connection_refused(service, make_spawner, monkeypatch):
    real = httpx.AsyncClient.request
    refused = []

    async def down_once(self, method, url, **kwargs):
        if method == "DELETE" and not refused:
            refused.append(url)
            raise httpx.ConnectError("connection refused", request=httpx.Request(method, url))
        return await real(self, method, url, **kwargs)

    spawner = make_spawner()
    await asyncio.wait_for(spawner.start(), TIMEOUT)
    monkeypatch.setattr(httpx.AsyncClient, "request", down_once)
    await asyncio.wait_for(spawner.stop(), TIMEOUT)
    assert refused and ("alice", "") not in service.sessions


async def test_stop_is_bounded_by_stop_timeout(make_spawner, monkeypatch):
    spawner = make_spawner(stop_timeout=0.2)
    seen = {}

    async def record(self, method, url, **kwargs):
        seen["timeout"] = kwargs["timeout"]
        raise httpx.ReadTimeout("slow", request=httpx.Request(method, url))

    monkeypatch.setattr(httpx.AsyncClient, "request", record)
    with pytest.raises(ServiceError, match="did not answer DELETE"):
        await spawner.stop()
    assert seen["timeout"] == 0.2


# -- delete_forever ---------------------------------------------------------


def volume_deletes(service: FakeService) -> list[str]:
    return [uri for method, uri, _ in service.requests if method == "DELETE" and "/volumes" in uri]


async def test_delete_forever_deletes_the_servers_volumes(service, make_spawner):
    """The hub deletes a user: once per server, the default one included."""
    default, named = make_spawner(), make_spawner("gpu box")
    await asyncio.wait_for(default.start(), TIMEOUT)
    await default.stop()
    await default.delete_forever()
    await named.delete_forever()  # never started: nothing to delete is fine
    assert volume_deletes(service) == [
        "/api/v1/users/alice/server/volumes",
        "/api/v1/users/alice/servers/gpu%20box/volumes",
    ]
    assert service.deleted_volumes == [("alice", ""), ("alice", "gpu box")]


async def test_delete_forever_keeps_volumes_when_told_to(service, make_spawner):
    spawner = make_spawner(delete_volumes=False)
    await spawner.delete_forever()
    assert volume_deletes(service) == []
    assert service.deleted_volumes == []


def test_delete_volumes_defaults_to_true_like_kubespawners_delete_pvc(make_spawner):
    assert KubedeskSpawner.class_traits()["delete_volumes"].default_value is True
    assert make_spawner().delete_volumes is True


async def test_delete_forever_of_a_running_server_raises_the_services_sentence(
    service, make_spawner
):
    spawner = make_spawner()
    await asyncio.wait_for(spawner.start(), TIMEOUT)
    with pytest.raises(Exception, match="The server still runs") as info:
        await spawner.delete_forever()
    assert not isinstance(info.value, ServiceError), "a refusal, not a platform failure"
    assert service.deleted_volumes == []


async def test_delete_forever_is_sent_again_while_the_service_restarts(service, make_spawner):
    service.volumes_answers.append(RESTARTING)
    await asyncio.wait_for(make_spawner().delete_forever(), TIMEOUT)
    assert len(volume_deletes(service)) == 2
    assert service.deleted_volumes == [("alice", "")]


async def test_delete_forever_failure_raises(service, make_spawner):
    service.volumes_answers.append(
        (500, {"code": "delete_failed", "message": "the API server is away"})
    )
    with pytest.raises(ServiceError, match="the API server is away"):
        await make_spawner().delete_forever()


# -- get_url ----------------------------------------------------------------


async def test_get_url_asks_the_service(service, make_spawner):
    await asyncio.wait_for(make_spawner().start(), TIMEOUT)
    service.sessions[("alice", "")].url = "http://10.0.0.7:8888"
    assert await make_spawner().get_url() == "http://10.0.0.7:8888"


@pytest.mark.parametrize("failure", ["503", "404", "refused"])
async def test_get_url_falls_back_to_the_stored_url(service, make_spawner, closed_port, failure):
    traits = {}
    if failure == "503":
        service.status_answer = (503, {"code": "starting", "message": "rebuilding"})
    elif failure == "refused":
        traits["service_url"] = f"http://127.0.0.1:{closed_port}"
    spawner = make_spawner(**traits)
    spawner.server.ip, spawner.server.port = "10.1.2.3", 8888
    assert await spawner.get_url() == spawner.server.url
    assert "10.1.2.3:8888" in spawner.server.url


async def test_get_url_never_raises_without_a_server(make_spawner, closed_port):
    spawner = make_spawner(service_url=f"http://127.0.0.1:{closed_port}")
    spawner._server = None
    assert await spawner.get_url() == ""


# -- options form -----------------------------------------------------------


async def test_options_form_comes_from_the_service(service, make_spawner):
    spawner = make_spawner()
    assert await spawner.get_options_form() == service.form_html
    service.form_html = "  \n"
    assert await spawner.get_options_form() == ""  # nothing to choose: no form


async def test_options_form_unreachable_is_a_readable_503(make_spawner, closed_port):
    spawner = make_spawner(service_url=f"http://127.0.0.1:{closed_port}")
    with pytest.raises(web.HTTPError) as info:
        await spawner.get_options_form()
    assert info.value.status_code == 503


async def test_options_from_form_is_wired_into_the_hub(make_spawner):
    spawner = make_spawner()
    options = spawner.run_options_from_form(
        {"profile": ["gpu"], "profile-option-gpu--image": ["jammy"]}
    )
    assert options == {"profile": "gpu", "image": "jammy"}


# -- configuration and plumbing ----------------------------------------------


def test_env_keep_is_empty(make_spawner, monkeypatch):
    monkeypatch.setenv("KUBEDESK_LEAK_CHECK", "1")
    spawner = make_spawner()
    assert spawner.env_keep == []
    env = spawner.get_env()
    assert "KUBEDESK_LEAK_CHECK" not in env
    assert "PATH" not in env


def test_traits_default_from_the_environment(monkeypatch):
    monkeypatch.setenv("KUBEDESK_SERVICE_TOKEN", "from-env")
    monkeypatch.delenv("KUBEDESK_SERVICE_URL", raising=False)
    spawner = KubedeskSpawner()
    assert spawner.service_token == "from-env"
    assert spawner.service_url == "http://kubedesk-spawner:8080"
    for name in ("service_url", "service_token", "request_timeout", "stop_timeout"):
        assert spawner.trait_metadata(name, "help"), f"{name} has no help"
        assert spawner.trait_metadata(name, "config")


def test_entry_point():
    (ep,) = [ep for ep in entry_points(group="jupyterhub.spawners") if ep.name == "kubedesk"]
    assert ep.load() is KubedeskSpawner


def shared_pool_size() -> int:
    """How many connections the shared client's pool holds (httpx internals)."""
    return len(_client.shared_client()._transport._pool.connections)


async def test_progress_streams_stay_out_of_the_shared_pool(service, make_spawner):
    """More progress streams than httpx's default pool (100): a poll still answers, and
    the shared pool, which httpcore walks on every request, holds none of the streams."""
    service.release.clear()  # every spawn waits before its ready event
    spawners = [make_spawner(name=f"s{i}") for i in range(110)]
    tasks = [s.start() for s in spawners]
    try:

        async def all_streaming() -> None:
            while len(progress_requests(service)) < len(spawners):
                await asyncio.sleep(0.05)

        await asyncio.wait_for(all_streaming(), 15)
        assert await asyncio.wait_for(make_spawner().poll(), 5) == 0
        # The creates and the poll have ended: what stays is at most the
        # pool's kept-alive connections (50), not one per open stream (110).
        assert shared_pool_size() <= 50, shared_pool_size()
    finally:
        service.release.set()
    assert await asyncio.wait_for(asyncio.gather(*tasks), 30) == [service.ready_url] * 110
    assert _client.shared_client() is _client.shared_client()


@pytest.mark.parametrize(
    ("user", "name", "path"),
    [
        ("alice", "", "/api/v1/users/alice/server"),
        ("alice", "desk-1", "/api/v1/users/alice/servers/desk-1"),
        ("ünï/cøde", "", "/api/v1/users/%C3%BCn%C3%AF%2Fc%C3%B8de/server"),
        ("bob@example.org", "a/b c?#", "/api/v1/users/bob%40example.org/servers/a%2Fb%20c%3F%23"),
    ],
)
async def test_names_are_percent_encoded(service, make_spawner, user, name, path):
    spawner = make_spawner(name=name, user=user)
    assert await asyncio.wait_for(spawner.start(), TIMEOUT) == service.ready_url
    assert await spawner.poll() is None  # from the snapshot, which names it as is
    await spawner.stop()
    uris = [uri for _, uri, _ in service.requests]
    assert uris == [path, path + "/progress", "/api/v1/sessions", path]
    assert service.sessions == {}
