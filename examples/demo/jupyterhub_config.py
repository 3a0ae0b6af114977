# JupyterHub configuration of `make demo` (hack/demo.sh sets the environment).
import os

c = get_config()  # noqa: F821

# Loopback for the dev node, whose pods share this machine's network (each
# binds its own 127.43.x.y pod IP); the real node's address when the hub runs
# in its network namespace (KUBEDESK_DEMO_NODE=real). In a real cluster the
# hub's API is the hub's Service.
ip = os.environ.get("KUBEDESK_DEMO_IP", "127.0.0.1")
c.JupyterHub.ip = ip
c.JupyterHub.port = int(os.environ.get("KUBEDESK_DEMO_PORT", "8000"))
# The hub's API, for the single-user servers.
hub_port = int(os.environ.get("KUBEDESK_DEMO_HUB_PORT", "8081"))
c.JupyterHub.hub_ip = ip
c.JupyterHub.hub_port = hub_port
c.JupyterHub.hub_connect_url = f"http://{ip}:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:" + os.environ.get(
    "KUBEDESK_DEMO_PROXY_API_PORT", "8001"
)

# Every user logs in with the demo password; nothing here is for production.
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ["KUBEDESK_DEMO_PASSWORD"]
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {"admin"}

# The spawner is a thin client of the kubedesk service.
c.JupyterHub.spawner_class = "kubedesk"
c.KubedeskSpawner.service_url = os.environ["KUBEDESK_SERVICE_URL"]
c.KubedeskSpawner.service_token = os.environ["KUBEDESK_SERVICE_TOKEN"]
# A desktop starts in 10-25 s on a busy 2-core machine (X, XFCE, JupyterLab);
# leave room for a first start that also creates the home volume.
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 120
# Land in JupyterLab; its launcher has the "Desktop" tile (<prefix>desktop/).
c.Spawner.default_url = "/lab"

# Stop every server when the hub stops, so Ctrl-C leaves no pod running
# (the home volumes stay, and the next start finds them).
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
state = os.environ["KUBEDESK_DEMO_STATE"]
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = f"{state}/jupyterhub.pid"
c.ConfigurableHTTPProxy.pid_file = f"{state}/jupyterhub-proxy.pid"
