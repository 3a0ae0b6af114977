"""kubedesk in JupyterLab: the labextension, its server extension, and a notebook client.

From a notebook cell::

    from kubedesk_jupyterlab import launch, apps, running
    viewer = launch("itksnap", "brain.nii.gz")
    viewer.stop()
"""

from ._agent import LaunchError
from .client import App, CatalogApp, apps, launch, running

try:
    from importlib.metadata import version as _version

    __version__ = _version("kubedesk-jupyterlab")
except Exception:  # an uninstalled checkout, as in the unit tests
    __version__ = "0.0.0"

__all__ = ["App", "CatalogApp", "LaunchError", "apps", "launch", "running"]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "@kubedesk/jupyterlab"}]


def _jupyter_server_extension_points():
    return [{"module": "kubedesk_jupyterlab"}]


def _load_jupyter_server_extension(server_app):
    # Imported here so that a kernel importing the notebook client does not
    # load the Jupyter server.
    from .handlers import setup_handlers

    setup_handlers(server_app.web_app)
    server_app.log.info(
        "kubedesk: registered the launcher API and app views under %skubedesk/", server_app.base_url
    )
