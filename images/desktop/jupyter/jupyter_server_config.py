# Jupyter server configuration of the kubedesk desktop session, found
# through JUPYTER_CONFIG_PATH (set by entrypoint.sh to this folder).
import os

c = get_config()  # noqa: F821

# The desktop: entrypoint.sh starts the X server eagerly (the launcher agent
# attaches app windows to it even before anyone opens the desktop page), with
# VNC on a Unix socket. jupyter-remote-desktop-proxy serves the noVNC page at
# <prefix>desktop/ and would start its own vncserver behind
# <prefix>desktop-websockify/ on first use; this server of the same name is
# registered before the package's entry point, so its route wins and the
# websocket goes straight to the running desktop. The launcher tile stays the
# package's ("Desktop"), so this one has none.
vnc_socket = os.environ.get("KUBEDESK_VNC_SOCKET")
if vnc_socket:
    c.ServerProxy.servers = {
        "desktop-websockify": {
            "unix_socket": vnc_socket,
            "raw_socket_proxy": True,
            "launcher_entry": {"enabled": False},
        },
    }

# A terminal opened in JupyterLab is a login shell of the session user.
c.ServerApp.terminado_settings = {"shell_command": ["/bin/bash", "-l"]}

# A session is a place to work, not to be asked questions: no "get notified
# about Jupyter news?" prompt in every new session, and no update check
# (the image pins JupyterLab; operators update the image).
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
# news_url alone does not stop the prompt: the frontend asks while its
# notification setting is undecided. lab-settings/overrides.json decides it
# (the admin defaults JupyterLab reads from app_settings_dir; users can
# still change them).
c.LabApp.app_settings_dir = os.path.join(os.path.dirname(__file__), "lab-settings")
