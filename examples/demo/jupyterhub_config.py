# JupyterHub configuration of `make demo` (hack/demo.sh sets the environment).
import os

c = get_config()  # noqa: F821

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ.get("KUBEDESK_DEMO_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"

# Every user logs in with the demo password; nothing here is for production.
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ["KUBEDESK_DEMO_PASSWORD"]
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {"admin"}

# The spawner is a thin client of the kubedesk service.
c.JupyterHub.spawner_class = "kubedesk"
c.KubedeskSpawner.service_url = os.environ["KUBEDESK_SERVICE_URL"]
c.KubedeskSpawner.service_token = os.environ["KUBEDESK_SERVICE_TOKEN"]
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 60

# Stop every server when the hub stops, so Ctrl-C leaves no pod running.
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
state = os.environ["KUBEDESK_DEMO_STATE"]
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.pid_file = f"{state}/jupyterhub-proxy.pid"
