"""JupyterHub spawner for kubedesk: a thin client of the kubedesk spawner service.

Use it with ``c.JupyterHub.spawner_class = "kubedesk"`` (the
``jupyterhub.spawners`` entry point) or ``"kubedesk_spawner.KubedeskSpawner"``.
"""

from ._errors import ServiceError
from ._form import options_from_form
from .spawner import KubedeskSpawner

__all__ = ["KubedeskSpawner", "ServiceError", "options_from_form"]
