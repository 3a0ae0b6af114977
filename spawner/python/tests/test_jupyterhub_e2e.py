"""A real JupyterHub with KubedeskSpawner, driven through the hub's REST API.

Needs a spawner service: either a real one,

    KUBEDESK_SERVICE_URL=http://127.0.0.1:8080 KUBEDESK_SERVICE_TOKEN=... \
        pytest tests/test_jupyterhub_e2e.py

or the fake one in tests/fake_service.py, which this test starts itself with

    KUBEDESK_E2E_FAKE=1 pytest tests/test_jupyterhub_e2e.py

Other knobs: KUBEDESK_E2E_PROFILE (the profile to ask for, default
"desktop"), KUBEDESK_E2E_HUB_IP and KUBEDESK_E2E_HUB_CONNECT_URL (where the
hub listens and how servers reach it, for a service that runs real pods), and
KUBEDESK_E2E_TIMEOUT (seconds for a spawn or a stop, default 120).

The hub needs configurable-http-proxy on PATH; hack/python-env.sh installs it
into .cache/node, which this test adds to PATH.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import httpx
import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parents[1]
CHP_BIN = REPO_ROOT / ".cache" / "node" / "node_modules" / ".bin"
TIMEOUT = float(os.environ.get("KUBEDESK_E2E_TIMEOUT", "120"))
PROFILE = os.environ.get("KUBEDESK_E2E_PROFILE", "desktop")
USER = "e2e-user"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float = TIMEOUT, log: Path | None = None):
    """Call check() until it returns something truthy; fail after timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (httpx.HTTPError, OSError) as e:
            last_error = e
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-4000:] if log and log.exists() else ""
    pytest.fail(
        f"Timed out after {timeout:g} s waiting for {what} (last error: {last_error})\n{tail}"
    )


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def spawner_service(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """(URL, token) of the spawner service the hub will use."""
    if os.environ.get("KUBEDESK_E2E_FAKE") == "1":
        token = secrets.token_hex(16)
        port = free_port()
        log = tmp_path_factory.mktemp("fake") / "fake_service.log"
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.fake_service", "--port", str(port), "--token", token],
                cwd=PACKAGE_DIR,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(
                "the fake spawner service",
                lambda: (
                    httpx.get(
                        f"{url}/api/v1/profiles", headers={"Authorization": f"Bearer {token}"}
                    ).status_code
                    == 200
                ),
                timeout=30,
                log=log,
            )
            yield url, token
        finally:
            stop_process(proc)
        return
    url = os.environ.get("KUBEDESK_SERVICE_URL")
    if not url:
        pytest.skip(
            "KUBEDESK_SERVICE_URL is unset: no spawner service to run JupyterHub against"
            " (set it and KUBEDESK_SERVICE_TOKEN, or KUBEDESK_E2E_FAKE=1 for the fake service)"
        )
    yield url, os.environ.get("KUBEDESK_SERVICE_TOKEN", "")


@pytest.fixture(scope="module")
def hub(spawner_service, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """A running JupyterHub: its admin API client, version, public URL and log."""
    service_url, service_token = spawner_service
    jupyterhub = shutil.which("jupyterhub", path=str(Path(sys.executable).parent))
    if jupyterhub is None:
        pytest.fail(f"no jupyterhub next to {sys.executable}")
    env = dict(os.environ, PATH=f"{CHP_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if shutil.which("configurable-http-proxy", path=env["PATH"]) is None:
        pytest.fail("configurable-http-proxy is not installed: run hack/python-env.sh node")

    tmp = tmp_path_factory.mktemp("hub")
    admin_token = secrets.token_hex(16)
    proxy_port, proxy_api_port, hub_port = free_port(), free_port(), free_port()
    config = {
        "proxy_port": proxy_port,
        "proxy_api_port": proxy_api_port,
        "hub_port": hub_port,
        "hub_ip": os.environ.get("KUBEDESK_E2E_HUB_IP", "127.0.0.1"),
        "hub_connect_url": os.environ.get("KUBEDESK_E2E_HUB_CONNECT_URL", ""),
        "tmp": str(tmp),
        "service_url": service_url,
        "service_token": service_token,
        "admin_token": admin_token,
        "timeout": int(TIMEOUT),
    }
    (tmp / "jupyterhub_config.py").write_text(
        f"config = {json.dumps(config)}\n"
        + """
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = config["proxy_port"]
c.JupyterHub.hub_ip = config["hub_ip"]
c.JupyterHub.hub_port = config["hub_port"]
if config["hub_connect_url"]:
    c.JupyterHub.hub_connect_url = config["hub_connect_url"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{config['proxy_api_port']}"
c.ConfigurableHTTPProxy.pid_file = config["tmp"] + "/proxy.pid"
c.JupyterHub.db_url = "sqlite:///" + config["tmp"] + "/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = config["tmp"] + "/cookie_secret"
c.JupyterHub.pid_file = config["tmp"] + "/jupyterhub.pid"

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "e2e-password"
c.Authenticator.allow_all = True  # JupyterHub >= 5 (4.x warns and ignores it)

c.JupyterHub.spawner_class = "kubedesk"
c.KubedeskSpawner.service_url = config["service_url"]
c.KubedeskSpawner.service_token = config["service_token"]
c.Spawner.start_timeout = config["timeout"]
c.Spawner.http_timeout = 60
# Answer spawn requests at once (202), so the progress stream shows every step.
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}

c.JupyterHub.services = [{"name": "e2e", "api_token": config["admin_token"]}]
c.JupyterHub.load_roles = [
    {"name": "e2e", "scopes": ["admin:users", "admin:servers"], "services": ["e2e"]}
]
"""
    )
    log = tmp / "jupyterhub.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [jupyterhub, "-f", str(tmp / "jupyterhub_config.py"), "--debug"],
            cwd=tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{proxy_port}"
    client = httpx.Client(
        base_url=f"{base}/hub/api",
        headers={"Authorization": f"token {admin_token}"},
        timeout=30,
    )

    def hub_info():
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-4000:]
            pytest.fail(f"jupyterhub exited with status {proc.returncode}:\n{tail}")
        r = client.get("/")
        return r.json() if r.status_code == 200 else None

    try:
        info = wait_for("JupyterHub to answer", hub_info, timeout=60, log=log)
        yield SimpleNamespace(api=client, version=info["version"], url=base, log=log)
    finally:
        client.close()
        stop_process(proc)
        # The hub stops its proxy on a clean exit; make sure of it after a kill.
        pid_file = tmp / "proxy.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pass


def test_spawn_and_stop_through_jupyterhub(hub, spawner_service):
    """POST a server with a profile, see it ready and proxied, DELETE it, see it gone."""
    client, log = hub.api, hub.log
    service_url, service_token = spawner_service
    major = int(hub.version.split(".")[0])
    user = quote(USER, safe="")

    r = client.post(f"/users/{user}")
    assert r.status_code in (201, 409), r.text

    # JupyterHub 6 takes {"user_options": {...}}; earlier ones the options themselves.
    options = {"profile": PROFILE}
    body = {"user_options": options} if major >= 6 else options
    r = client.post(f"/users/{user}/server", json=body)
    assert r.status_code in (201, 202), r.text

    # Follow the hub's own progress stream (fed by KubedeskSpawner.progress()).
    events = []
    with client.stream("GET", f"/users/{user}/server/progress", timeout=TIMEOUT) as stream:
        assert stream.status_code == 200
        for line in stream.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[len("data:") :]))
                if events[-1].get("ready") or events[-1].get("failed"):
                    break
    assert events, "no progress events"
    assert not events[-1].get("failed"), events[-1].get("message")

    def ready():
        model = client.get(f"/users/{user}").json()
        server = model.get("servers", {}).get("")
        return server if server and server.get("ready") else None

    server = wait_for("the server to be ready", ready, log=log)
    assert server["url"] == f"/user/{user}/"

    # The service has the session, with the options the hub passed on.
    service = httpx.Client(
        base_url=service_url, headers={"Authorization": f"Bearer {service_token}"}
    )
    session = service.get(f"/api/v1/users/{user}/server").json()
    assert session["status"] == "running"
    if "profile" in session:
        assert session["profile"] == PROFILE

    # The proxy routes the server's prefix to the URL the service handed out
    # (the hub reports "ready" a moment before it has added the route).
    def routed():
        r = httpx.get(f"{hub.url}/user/{user}/api")
        return r if not r.headers.get("location", "").startswith("/hub/") else None

    proxied = wait_for("the proxy route", routed, timeout=30, log=log)
    assert proxied.status_code < 500, proxied.text
    if os.environ.get("KUBEDESK_E2E_FAKE") == "1":
        assert proxied.status_code == 200
        assert proxied.headers["X-JupyterHub-Version"] == hub.version

    r = client.delete(f"/users/{user}/server")
    assert r.status_code in (202, 204), r.text
    wait_for(
        "the server to be gone",
        lambda: "" not in client.get(f"/users/{user}").json().get("servers", {}),
        log=log,
    )
    assert service.get(f"/api/v1/users/{user}/server").status_code == 404
    service.close()

    if os.environ.get("KUBEDESK_E2E_FAKE") == "1":
        messages = [e.get("message", "") for e in events]
        assert "Pod scheduled" in messages, messages
