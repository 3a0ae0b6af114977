"""The notebook client against a fake agent on a Unix socket."""

from __future__ import annotations

import pytest

import kubedesk_jupyterlab as kd
from kubedesk_jupyterlab import client as client_mod


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch):
    monkeypatch.setattr(client_mod, "POLL_INTERVAL", 0.01)


def test_apps_lists_the_catalog(fake_agent):
    apps = kd.apps()
    assert [(a.id, a.name, a.version) for a in apps] == [
        ("itksnap", "ITK-SNAP", "4.2.2"),
        ("xterm", "XTerm", "388"),
    ]
    assert apps[0].file_types == (".nii.gz", ".nrrd")


def test_launch_waits_until_running_and_stop_removes_it(fake_agent, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    viewer = kd.launch("itksnap", "brain.nii.gz", tmp_path / "seg.nrrd")
    assert viewer.status == "running"
    assert fake_agent.launches == [
        {"app": "itksnap", "files": [str(tmp_path / "brain.nii.gz"), str(tmp_path / "seg.nrrd")]}
    ]
    assert viewer.url == f"/user/alice/kubedesk/apps/{viewer.id}/view/"
    assert [a.id for a in kd.running()] == [viewer.id]
    html = viewer._repr_html_()
    assert (
        f'href="/user/alice/kubedesk/apps/{viewer.id}/view/"' in html
        and "Open itksnap 4.2.2" in html
    )
    assert (
        'data-commandlinker-command="kubedesk:open-view" '
        f'data-commandlinker-args="{{&quot;id&quot;: &quot;{viewer.id}&quot;}}"' in html
    )

    viewer.stop()
    assert viewer.status == "ended"
    assert kd.running() == []


def test_launch_without_wait_returns_a_starting_app(fake_agent):
    a = kd.launch("xterm", version="388", wait=False)
    assert a.status == "starting" and a.message == "Pulling image"
    assert fake_agent.launches == [{"app": "xterm", "version": "388"}]
    assert "(starting: Pulling image)" in a._repr_html_()
    assert a.wait_ready().status == "running"


@pytest.mark.parametrize(
    "setup, app, code, message",
    [
        (lambda agent: None, "nope", "unknown_app", "There is no app 'nope' in the catalog."),
        (
            lambda agent: setattr(agent, "quota", 0),
            "xterm",
            "quota",
            "This session already runs 0 apps, the most it may.",
        ),
        (
            lambda agent: setattr(agent, "fail_next", "Back-off pulling image vnmd/itksnap_4.2.2"),
            "itksnap",
            "failed",
            "itksnap 4.2.2 failed to start: Back-off pulling image vnmd/itksnap_4.2.2",
        ),
    ],
    ids=["unknown app", "quota", "fails to start"],
)
def test_launch_errors_carry_the_services_words(fake_agent, setup, app, code, message):
    setup(fake_agent)
    with pytest.raises(kd.LaunchError) as err:
        kd.launch(app)
    assert (err.value.code, str(err.value)) == (code, message)


def test_no_agent_is_a_readable_error(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBEDESK_LAUNCHER_SOCKET", str(tmp_path / "none.sock"))
    with pytest.raises(kd.LaunchError) as err:
        kd.apps()
    assert err.value.code == "agent_unreachable"
    assert "launcher is not running" in str(err.value)


def test_bad_arguments_are_refused_before_the_agent(fake_agent):
    with pytest.raises(kd.LaunchError) as err:
        kd.launch("")
    assert err.value.code == "bad_request"
    with pytest.raises(kd.LaunchError) as err:
        client_mod.App(id="../catalog", app="x", _client=client_mod.AgentClient()).refresh()
    assert err.value.code == "not_found"
    assert fake_agent.launches == []


def test_url_outside_a_hub(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    assert client_mod.view_url("app-1") == "/kubedesk/apps/app-1/view/"
