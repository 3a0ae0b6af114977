"""The desktop session's entrypoint, run on this host the way hack/devnode
runs a kubedesk/desktop pod: as uid 1000 in a private mount namespace with
its own tmpfs /tmp, a clean environment, and its own loopback pod IP.

    hack/desktop-env.sh                                    # once (root)
    .cache/venv-desktop/bin/python -m pytest images/desktop -v -s

Needs root (unshare, setpriv). The browser check also needs
test/browser/node_modules and /usr/bin/chromium (hack/desktop-env.sh
browser) and leaves its screenshot in test/artifacts/.
"""

from __future__ import annotations

import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest
import websocket  # websocket-client, a dependency of jupyter_server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ENTRYPOINT = HERE / "entrypoint.sh"
VENV_BIN = ROOT / ".cache" / "venv-desktop" / "bin"
ARTIFACTS = ROOT / "test" / "artifacts"
PREFIX = "/user/test/"
UID, GID = 1000, 100

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: unshare and setpriv")


def port_free(ip: str, port: int) -> bool:
    """Nothing listens there (TIME_WAIT leftovers of an earlier run don't count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


NO_REDIRECT = urllib.request.build_opener(NoRedirect)


class FakeHub(http.server.BaseHTTPRequestHandler):
    """Just enough of JupyterHub's API for jupyterhub-singleuser to start:
    GET /hub/api answers with the hub's version."""

    def do_GET(self):
        body = json.dumps({"version": "5.5.4"}).encode()
        self.send_response(200 if self.path.rstrip("/") == "/hub/api" else 404)
        self.send_header("X-JupyterHub-Version", "5.5.4")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Session:
    """One desktop pod: entrypoint.sh as uid 1000, private /tmp, pod IP."""

    def __init__(
        self, ip: str, extra_env: dict[str, str] | None = None, args: list[str] | None = None
    ):
        assert port_free(ip, 8888), f"{ip}:8888 is taken"
        self.ip = ip
        self.base = f"http://{ip}:8888{PREFIX}"
        self.token = secrets.token_hex(16)
        self.session_id = "test-" + secrets.token_hex(8)
        self.home = Path(tempfile.mkdtemp(prefix="kubedesk-home-", dir="/var/tmp"))
        os.chown(self.home, UID, GID)
        self.log_path = self.home.with_suffix(".log")
        env = {
            "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "KUBEDESK_POD_IP": ip,
            "KUBEDESK_POD_NAME": "desktop-test",
            "KUBEDESK_POD_NAMESPACE": "default",
            "KUBEDESK_SESSION_ID": self.session_id,
            "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
            "JUPYTERHUB_API_TOKEN": self.token,
            **(extra_env or {}),
        }
        env_args = [f"{k}={v}" for k, v in env.items()]
        # The pod's own /tmp would cover a checkout under /tmp (where CI may
        # clone): park the checkout outside /tmp and put it back on top, as
        # hack/devnode does.
        keep = ""
        if str(ROOT).startswith("/tmp/"):
            keep = (
                f"mkdir -p /dev/shm/kubedesk-keep && mount --bind {ROOT} /dev/shm/kubedesk-keep && "
                "mount -t tmpfs -o mode=1777 tmpfs /tmp && "
                f"mkdir -p {ROOT} && mount --bind /dev/shm/kubedesk-keep {ROOT} && "
            )
        script = (
            keep or "mount -t tmpfs -o mode=1777 tmpfs /tmp && "
        ) + f'exec setpriv --reuid {UID} --regid {GID} --init-groups env -i "$@"'
        self.t0 = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    script,
                    "sh",
                    *env_args,
                    str(ENTRYPOINT),
                    *(args or []),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd="/",
            )
        # unshare, sh, setpriv and env all exec: proc.pid is entrypoint.sh.

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, token: bool = True, timeout: float = 5) -> tuple[int, bytes]:
        req = urllib.request.Request(self.base + path)
        if token:
            req.add_header("Authorization", f"token {self.token}")
        try:
            with NO_REDIRECT.open(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait_api(self, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (
                f"entrypoint exited {self.proc.returncode}:\n{self.log()}"
            )
            try:
                status, body = self.get("api", token=False, timeout=2)
                if status == 200 and b"version" in body:
                    return time.monotonic() - self.t0
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.base}api not 200 after {timeout}s:\n{self.log()}")

    # The pod's files, as the host sees them through the entrypoint's mount namespace.
    def pod_file(self, path: str) -> Path:
        return Path(f"/proc/{self.proc.pid}/root") / path.lstrip("/")

    def x_env(self) -> dict[str, str]:
        """DISPLAY and XAUTHORITY for a client on the host (abstract X sockets
        are per network namespace, so the host reaches the pod's display)."""
        display = self.pod_file("/tmp/kubedesk/display").read_text().strip()
        xauth = self.home.with_suffix(".xauth")
        shutil.copyfile(self.pod_file("/tmp/kubedesk/Xauthority"), xauth)
        return {"PATH": "/usr/bin:/bin", "DISPLAY": display, "XAUTHORITY": str(xauth)}

    def wait_desktop(self, timeout: float = 60) -> float:
        """Waits until the window manager, the panel and the desktop have
        visible windows; returns seconds since the entrypoint started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pod_file("/tmp/kubedesk/display").exists():
                env = self.x_env()
                found = {
                    cls: subprocess.run(
                        ["xdotool", "search", "--onlyvisible", "--class", cls],
                        env=env,
                        capture_output=True,
                        text=True,
                    ).stdout.split()
                    for cls in ("xfce4-panel", "xfdesktop")
                }
                wm = subprocess.run(
                    ["xdotool", "search", "--class", "xfwm4"],
                    env=env,
                    capture_output=True,
                    text=True,
                ).stdout.split()
                if all(found.values()) and wm:
                    return time.monotonic() - self.t0
            time.sleep(0.2)
        raise AssertionError(f"desktop windows missing after {timeout}s:\n{self.log()}")

    def processes(self) -> list[tuple[int, str]]:
        """Every process on the host that carries this session's id."""
        marker = f"KUBEDESK_SESSION_ID={self.session_id}".encode()
        out = []
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                if marker in (d / "environ").read_bytes().split(b"\0"):
                    out.append(
                        (
                            int(d.name),
                            (d / "cmdline")
                            .read_bytes()
                            .replace(b"\0", b" ")
                            .decode(errors="replace"),
                        )
                    )
            except OSError:
                pass
        return out

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def cleanup(self):
        self.stop()
        for pid, _ in self.processes():  # never leave anything behind, even on failure
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.home, ignore_errors=True)
        for p in (self.log_path, self.home.with_suffix(".xauth")):
            p.unlink(missing_ok=True)


@pytest.fixture
def sessions():
    made: list[Session] = []

    def make(ip: str, **kw) -> Session:
        s = Session(ip, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()


def rfb_banner(s: Session) -> bytes:
    """Opens <prefix>desktop-websockify/ (the noVNC websocket) and returns the
    first bytes the VNC server sends: its RFB protocol version."""
    ws = websocket.create_connection(
        f"ws://{s.ip}:8888{PREFIX}desktop-websockify/",
        header=[f"Authorization: token {s.token}"],
        subprotocols=["binary"],
        timeout=10,
    )
    try:
        return ws.recv()
    finally:
        ws.close()


def x_windows(s: Session) -> str:
    return subprocess.run(
        ["xwininfo", "-root", "-tree"], env=s.x_env(), capture_output=True, text=True, check=True
    ).stdout


def assert_session_works(s: Session) -> dict[str, float]:
    # Both clocks run from the entrypoint's start, watched at the same time.
    desktop: dict[str, object] = {}

    def watch():
        try:
            desktop["t"] = s.wait_desktop()
        except BaseException as e:  # reported below
            desktop["error"] = e

    watcher = threading.Thread(target=watch)
    watcher.start()
    t_api = s.wait_api()
    watcher.join()
    if "error" in desktop:
        raise desktop["error"]
    t_desktop = desktop["t"]
    # The desktop page (jupyter-remote-desktop-proxy) needs the token, like all of JupyterLab.
    status, body = s.get("desktop/")
    assert status == 200 and b"viewer.js" in body, (status, body[:300])
    assert s.get("desktop/", token=False)[0] in (302, 403)
    # Its websocket reaches the session's own VNC server (the eager one, not
    # a second lazily started vncserver).
    assert rfb_banner(s).startswith(b"RFB 003.")
    tree = x_windows(s)
    for name in ('"xfce4-panel"', '"Desktop"', '"xfwm4"'):
        assert name in tree, tree
    return {"api": t_api, "desktop": t_desktop}


def test_session_starts_serves_desktop_and_stops_cleanly(sessions):
    s = sessions("127.43.250.1")
    times = assert_session_works(s)
    print(
        f"\nentrypoint start -> {PREFIX}api 200: {times['api']:.2f}s; "
        f"-> desktop windows mapped: {times['desktop']:.2f}s"
    )
    env = s.x_env()
    assert env["DISPLAY"].startswith(":")
    desktop_env = s.pod_file("/tmp/kubedesk/desktop.env").read_text()
    assert (
        f"DISPLAY={env['DISPLAY']}\n" in desktop_env
        and "XAUTHORITY=/tmp/kubedesk/Xauthority" in desktop_env
    )
    assert s.pod_file("/tmp/kubedesk/vnc.sock").stat().st_mode & 0o077 == 0
    # One X server and no TCP VNC port: only the Unix socket.
    names = [cmd for _, cmd in s.processes()]
    assert sum(c.startswith("Xtigervnc") for c in names) == 1, names
    assert all("-rfbport -1" in c for c in names if c.startswith("Xtigervnc"))
    # JupyterLab (and so its terminals) knows the desktop.
    server = [pid for pid, c in s.processes() if "jupyter-lab" in c]
    assert server, names
    server_env = Path(f"/proc/{server[0]}/environ").read_bytes().split(b"\0")
    assert f"DISPLAY={env['DISPLAY']}".encode() in server_env
    # X needs the cookie: a client without it is refused.
    no_auth = subprocess.run(
        ["xdpyinfo"], env={**env, "XAUTHORITY": "/nonexistent"}, capture_output=True
    )
    assert no_auth.returncode != 0
    assert s.get("api/status")[0] == 200
    assert s.get("lab")[0] == 200
    # No "get notified about Jupyter news?" prompt: the image decides the
    # setting the prompt asks about (jupyter/lab-settings/overrides.json).
    status, body = s.get("lab/api/settings/@jupyterlab/apputils-extension:notification")
    assert status == 200, body[:300]
    assert json.loads(body)["schema"]["properties"]["fetchNews"]["default"] == "false", body[:300]

    t = time.monotonic()
    rc = s.stop()
    print(f"SIGTERM -> entrypoint exited {rc} in {time.monotonic() - t:.2f}s")
    assert rc == 128 + signal.SIGTERM, s.log()
    time.sleep(0.5)
    assert s.processes() == [], s.processes()
    assert port_free(s.ip, 8888)


def test_two_sessions_side_by_side(sessions):
    a = sessions("127.43.250.2")
    b = sessions("127.43.250.3")
    ta, tb = assert_session_works(a), assert_session_works(b)
    print(
        f"\ntwo at once: api {ta['api']:.2f}s / {tb['api']:.2f}s, "
        f"desktop {ta['desktop']:.2f}s / {tb['desktop']:.2f}s"
    )
    da, db = a.x_env()["DISPLAY"], b.x_env()["DISPLAY"]
    assert da != db, "two pods on one host must not share an X display number"
    # Each one's VNC socket is its own: the same path in two private /tmp.
    sa, sb = (
        a.pod_file("/tmp/kubedesk/vnc.sock").stat(),
        b.pod_file("/tmp/kubedesk/vnc.sock").stat(),
    )
    assert (sa.st_dev, sa.st_ino) != (sb.st_dev, sb.st_ino)
    # Each pod's X cookie opens its own display only.
    cross = subprocess.run(["xdpyinfo"], env={**a.x_env(), "DISPLAY": db}, capture_output=True)
    assert cross.returncode != 0
    # Stopping one leaves the other running.
    a.stop()
    assert a.processes() == []
    assert b.get("api/status")[0] == 200 and rfb_banner(b).startswith(b"RFB 003.")
    b.stop()
    assert b.processes() == []


@pytest.fixture
def fake_hub():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hub/api"
    srv.shutdown()


def test_singleuser_with_hub_env(sessions, fake_hub):
    """With JUPYTERHUB_API_URL set, the server is jupyterhub-singleuser (hub
    OAuth, activity): it answers <prefix>api, and sends a browser without a
    hub cookie to the hub's OAuth authorize URL. (It wants a hub that answers
    GET /hub/api at start, and exits after 5 failed tries.)"""
    s = sessions(
        "127.43.250.4",
        extra_env={
            "JUPYTERHUB_API_URL": fake_hub,
            "JUPYTERHUB_BASE_URL": "/",
            "JUPYTERHUB_USER": "test",
            "JUPYTERHUB_CLIENT_ID": "jupyterhub-user-test",
            "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{PREFIX}oauth_callback",
            "JUPYTERHUB_HOST": "",
            "JUPYTERHUB_SERVER_NAME": "",
            "KUBEDESK_DESKTOP": "0",
        },
        args=["jupyterhub-singleuser"],
    )
    t = s.wait_api()
    print(f"\njupyterhub-singleuser: {PREFIX}api 200 after {t:.2f}s")
    assert any("jupyterhub-singleuser" in c for _, c in s.processes())
    try:
        NO_REDIRECT.open(s.base + "lab", timeout=5)
        raise AssertionError("expected a redirect to the hub")
    except urllib.error.HTTPError as e:
        assert e.code == 302 and "/hub/api/oauth2/authorize" in e.headers["Location"], (
            e.code,
            dict(e.headers),
        )
    assert s.stop() == 128 + signal.SIGTERM
    assert s.processes() == []


def add_menu_entry(home: Path):
    files = {
        ".local/share/applications/kubedesk-demo.desktop": (
            "[Desktop Entry]\nType=Application\nName=Kubedesk Demo App\n"
            "Exec=xfce4-terminal\nIcon=utilities-terminal\nCategories=X-Kubedesk;\n"
        ),
        ".local/share/desktop-directories/kubedesk.directory": (
            "[Desktop Entry]\nType=Directory\nName=Kubedesk Apps\nIcon=applications-science\n"
        ),
        ".config/menus/applications-merged/kubedesk.menu": (
            '<!DOCTYPE Menu PUBLIC "-//freedesktop//DTD Menu 1.0//EN"\n'
            ' "http://www.freedesktop.org/standards/menu-spec/1.0/menu.dtd">\n'
            "<Menu><Name>Xfce</Name><Menu><Name>Kubedesk</Name>"
            "<Directory>kubedesk.directory</Directory>"
            "<Include><Category>X-Kubedesk</Category></Include></Menu></Menu>\n"
        ),
    }
    for rel, text in files.items():
        p = home / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for p in [home, *home.rglob("*")]:
        os.chown(p, UID, GID)


@pytest.mark.skipif(
    not (ROOT / "test/browser/node_modules/playwright-core").is_dir()
    or not Path("/usr/bin/chromium").exists(),
    reason="needs hack/desktop-env.sh browser",
)
def test_browser_sees_desktop(sessions):
    s = sessions("127.43.250.5")
    # What the launcher will do: a freedesktop entry in the user's
    # applications folder and a menu category of its own.
    add_menu_entry(s.home)
    s.wait_api()
    s.wait_desktop()
    shot = ARTIFACTS / "desktop-session.png"
    menu_shot = ARTIFACTS / "desktop-menu.png"
    out = subprocess.run(
        ["node", str(ROOT / "test/browser/check-desktop.mjs"), s.base, s.token, str(shot)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KUBEDESK_MENU_SHOT": str(menu_shot)},
    )
    print("\n" + out.stdout + out.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ok"], result
    assert result["status"] == "Connected"
    assert result["colors"] >= 16
    assert shot.stat().st_size > 10_000
    print(
        "entrypoint start -> desktop painted in the browser: "
        f"{time.monotonic() - s.t0:.2f}s (screenshot {shot})"
    )
