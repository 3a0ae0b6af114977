# JupyterHub configuration of the hub benchmark (test/benchhub). The harness
# sets the BENCH_* variables; the same file runs kubedesk's spawner and
# KubeSpawner, configured alike: one profile with the same image, the same
# home-PVC setting, Kubernetes Events on (KubeSpawner's default), no spawn
# throttling, generous timeouts.
import os

c = get_config()  # noqa: F821

env = os.environ
spawner = env["BENCH_SPAWNER"]  # kubedesk | kubespawner
state = env["BENCH_STATE"]
image = env.get("BENCH_IMAGE", "kubedesk/desktop:bench")
pvc = env.get("BENCH_PVC", "0") == "1"

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(env["BENCH_PORT"])
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(env["BENCH_HUB_PORT"])
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:" + env["BENCH_PROXY_API_PORT"]
c.JupyterHub.db_url = f"sqlite:///{state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{state}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = f"{state}/jupyterhub.pid"
c.ConfigurableHTTPProxy.pid_file = f"{state}/jupyterhub-proxy.pid"

# Users are created and started through the REST API by an admin service.
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.services = [{"name": "bench", "api_token": env["BENCH_TOKEN"]}]
c.JupyterHub.load_roles = [
    {
        "name": "bench",
        "scopes": ["admin:users", "admin:servers", "list:users", "read:users", "read:servers"],
        "services": ["bench"],
    }
]

# Nothing throttles the wave: no spawn limit, no server limit.
c.JupyterHub.concurrent_spawn_limit = 0
c.JupyterHub.active_server_limit = 0
c.Spawner.start_timeout = int(env.get("BENCH_START_TIMEOUT", "300"))
c.Spawner.http_timeout = int(env.get("BENCH_HTTP_TIMEOUT", "120"))
# The POST that starts a server answers when the server is ready (201) or
# failed (an error with the reason), instead of 202 after 10 s: each user's
# request-to-ready time is then measured without polling the hub (polling
# thousands of pending users would load the hub more than the spawns do).
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": c.Spawner.start_timeout}
# Servers outlive the hub: the restart scenario restarts it with servers
# running; the harness deletes the namespace after each run.
c.JupyterHub.cleanup_servers = False
# Compressed steady state (BENCH_POLL_INTERVAL=3 is 10x JupyterHub's 30 s).
if env.get("BENCH_POLL_INTERVAL"):
    c.Spawner.poll_interval = int(env["BENCH_POLL_INTERVAL"])
if env.get("BENCH_LAST_ACTIVITY_INTERVAL"):
    c.JupyterHub.last_activity_interval = int(env["BENCH_LAST_ACTIVITY_INTERVAL"])

profile = {
    "display_name": "Desktop",
    "slug": "desktop",
    "default": True,
    "kubespawner_override": {"image": image},
}

if spawner == "kubedesk":
    # The service holds the profile list (BENCH_* in test/benchhub); the
    # shim fetches it. Service URL and token come from KUBEDESK_SERVICE_*.
    c.JupyterHub.spawner_class = "kubedesk"
elif spawner == "kubespawner":
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.KubeSpawner.namespace = env["BENCH_NAMESPACE"]
    c.KubeSpawner.image = image
    # The pod responder's port (kwok's pods run nothing; it answers for them).
    c.KubeSpawner.port = int(env["BENCH_POD_PORT"])
    c.KubeSpawner.profile_list = [profile]
    c.KubeSpawner.events_enabled = True
    c.KubeSpawner.uid = 1000
    c.KubeSpawner.fs_gid = 100
    c.KubeSpawner.storage_pvc_ensure = pvc
    if pvc:
        c.KubeSpawner.storage_capacity = "10Gi"
        c.KubeSpawner.storage_access_modes = ["ReadWriteOnce"]
        c.KubeSpawner.volumes = [
            {"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}
        ]
        c.KubeSpawner.volume_mounts = [{"name": "home", "mountPath": "/home/jovyan"}]
else:
    raise ValueError(f"BENCH_SPAWNER={spawner!r}: want kubedesk or kubespawner")
