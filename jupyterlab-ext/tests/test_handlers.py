"""The server extension in a real Jupyter server (pytest-jupyter), against a fake agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomllib
from jupyter_server.utils import url_path_join
from packaging.requirements import Requirement
from tornado import web, websocket
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.testing import bind_unused_port

from kubedesk_jupyterlab.handlers import proxy_addr


class FakeHTML5Proxy:
    """The agent's HTML5 proxy: records what reaches it and echoes websocket messages."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        proxy = self

        class Page(web.RequestHandler):
            def get(self, path):
                proxy.requests.append((self.request.path, dict(self.request.headers)))
                self.write(f"xpra html5 client for {path}")

        class Socket(websocket.WebSocketHandler):
            def open(self, path):
                proxy.requests.append((self.request.path, dict(self.request.headers)))

            def on_message(self, message):
                self.write_message(
                    b"echo " + (message if isinstance(message, bytes) else message.encode()),
                    binary=True,
                )

        self.app = web.Application([(r"/apps/(.*)/websocket", Socket), (r"/apps/(.*)", Page)])


@pytest.fixture
def html5_proxy(monkeypatch):
    sock, port = bind_unused_port()
    fake = FakeHTML5Proxy()
    server = HTTPServer(fake.app)
    server.add_sockets([sock])
    monkeypatch.setenv("KUBEDESK_LAUNCHER_PROXY_ADDR", f"127.0.0.1:{port}")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "server-hub-token")
    yield fake
    server.stop()


@pytest.fixture
def jp_server_config(fake_agent, html5_proxy, tmp_path):
    # fake_agent and html5_proxy set the environment the extension reads
    # when the server loads it.
    return {
        "ServerApp": {
            "jpserver_extensions": {"kubedesk_jupyterlab": True},
            "root_dir": str(tmp_path),
        }
    }


async def body(resp):
    return json.loads(resp.body) if resp.body else None


async def test_catalog_and_launch_are_forwarded(jp_fetch, fake_agent, tmp_path):
    resp = await jp_fetch("kubedesk", "api", "catalog")
    assert [a["id"] for a in await body(resp)] == ["itksnap", "xterm"]

    resp = await jp_fetch(
        "kubedesk",
        "api",
        "apps",
        method="POST",
        body=json.dumps(
            {
                "app": "itksnap",
                "version": "4.2.2",
                "files": ["data/brain.nii.gz", "/home/jovyan/x.nrrd"],
            }
        ),
    )
    assert resp.code == 202
    app = await body(resp)
    assert app["status"] == "starting"
    # Paths from the file browser are relative to the server's root.
    assert fake_agent.launches == [
        {
            "app": "itksnap",
            "version": "4.2.2",
            "files": [str(tmp_path / "data/brain.nii.gz"), "/home/jovyan/x.nrrd"],
        }
    ]

    listed = await body(await jp_fetch("kubedesk", "api", "apps"))
    assert [a["id"] for a in listed] == [app["id"]]
    got = await body(await jp_fetch("kubedesk", "api", "apps", app["id"]))
    assert got["id"] == app["id"]
    resp = await jp_fetch("kubedesk", "api", "apps", app["id"], method="DELETE")
    assert resp.code == 204
    assert await body(await jp_fetch("kubedesk", "api", "apps")) == []


@pytest.mark.parametrize(
    "request_body, status, code, message",
    [
        ({"app": "nope"}, 404, "unknown_app", "There is no app 'nope' in the catalog."),
        ({"app": ""}, 400, "bad_request", "Name the app to launch."),
        ({"app": "xterm", "files": "a.txt"}, 400, "bad_request", "Files are a list of paths."),
        (
            {"app": "xterm", "image": "evil"},
            400,
            "bad_request",
            'A launch request is {"app": …, "version": …, "files": […]}.',
        ),
    ],
    ids=["unknown app", "no app", "files not a list", "unknown field"],
)
async def test_refusals_keep_status_code_and_message(
    jp_fetch, fake_agent, request_body, status, code, message
):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("kubedesk", "api", "apps", method="POST", body=json.dumps(request_body))
    assert err.value.code == status
    assert json.loads(err.value.response.body) == {"code": code, "message": message} | (
        {"field": "app"}
        if message == "Name the app to launch."
        else {"field": "files"}
        if "Files" in message
        else {}
    )
    assert fake_agent.launches == ([request_body] if code == "unknown_app" else [])


async def test_quota_is_a_429(jp_fetch, fake_agent):
    fake_agent.quota = 0
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("kubedesk", "api", "apps", method="POST", body=json.dumps({"app": "xterm"}))
    assert err.value.code == 429
    assert json.loads(err.value.response.body)["code"] == "quota"


async def test_requests_without_the_owners_credentials_are_refused(
    http_server_client, jp_base_url, fake_agent
):
    # The API answers 403; the view, a page, sends the browser to log in.
    for path, status in (
        ("kubedesk/api/catalog", 403),
        ("kubedesk/apps/app-1/view/index.html", 302),
    ):
        with pytest.raises(HTTPClientError) as err:
            await http_server_client.fetch(
                url_path_join(jp_base_url, path), raise_error=True, follow_redirects=False
            )
        assert err.value.code == status, path
        if status == 302:
            assert "/login?next=" in err.value.response.headers["Location"]
    assert fake_agent.launches == []


async def test_view_proxies_with_the_servers_token(jp_fetch, html5_proxy):
    resp = await jp_fetch(
        "kubedesk",
        "apps",
        "app-s1-itksnap-1",
        "view",
        "index.html",
        headers={"Cookie": "jupyterhub-session-id=secret"},
    )
    assert resp.body == b"xpra html5 client for app-s1-itksnap-1/index.html"
    path, headers = html5_proxy.requests[-1]
    assert path == "/apps/app-s1-itksnap-1/index.html"
    assert headers["Authorization"] == "token server-hub-token"
    assert "Cookie" not in headers


async def test_view_websocket(jp_ws_fetch, html5_proxy):
    ws = await jp_ws_fetch("kubedesk", "apps", "app-s1-itksnap-1", "view", "websocket")
    await ws.write_message(b"hello", binary=True)
    assert await ws.read_message() == b"echo hello"
    ws.close()
    path, headers = html5_proxy.requests[-1]
    assert path == "/apps/app-s1-itksnap-1/websocket"
    assert headers["Authorization"] == "token server-hub-token"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "token forged"}, {"Cookie": "username-localhost-8888=forged"}],
    ids=["no credentials", "unknown token", "made-up cookie"],
)
async def test_view_websocket_without_the_owners_credentials_is_refused(
    http_server_client, jp_http_port, jp_base_url, html5_proxy, headers
):
    # jupyter-server-proxy before 4.1.1 opened websockets without the
    # server's authentication (CVE-2024-28179): nothing of the app's
    # stream may reach someone who is not logged in. (http_server_client
    # starts the server.)
    url = f"ws://localhost:{jp_http_port}" + url_path_join(
        jp_base_url, "kubedesk", "apps", "app-s1-itksnap-1", "view", "websocket"
    )
    with pytest.raises(HTTPClientError) as err:
        await websocket.websocket_connect(HTTPRequest(url, headers=headers))
    assert err.value.code == 403, err.value
    assert html5_proxy.requests == []


def test_requires_a_jupyter_server_proxy_with_authenticated_websockets():
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    [req] = [
        Requirement(d)
        for d in pyproject["project"]["dependencies"]
        if d.startswith("jupyter-server-proxy")
    ]
    for vulnerable in ("4.0.0", "4.1.0"):
        assert not req.specifier.contains(vulnerable), f"{req} admits {vulnerable} (CVE-2024-28179)"
    assert req.specifier.contains("4.2.0")


@pytest.mark.parametrize(
    "env, want",
    [
        ({}, ("127.0.0.1", 8899)),
        ({"KUBEDESK_POD_IP": "10.1.2.3"}, ("10.1.2.3", 8899)),
        ({"KUBEDESK_LAUNCHER_PROXY_ADDR": "[fd00::5]:9000"}, ("fd00::5", 9000)),
        ({"KUBEDESK_LAUNCHER_PROXY_ADDR": "off", "KUBEDESK_POD_IP": "10.1.2.3"}, None),
    ],
)
def test_proxy_addr_as_the_agent_computes_it(env, want):
    assert proxy_addr(env) == want
