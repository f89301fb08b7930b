"""The HTTP API of hitl_notebook (needs the ``service`` extra: ``pip install 'hitl-notebook[service]'``).

>>> from fastapi import FastAPI
>>> import hitl_notebook as hitl
>>> from hitl_notebook.http import TokenAuth, create_router
>>> app = FastAPI()
>>> app.include_router(create_router(hitl.connect(), TokenAuth.from_env()), prefix="/hitl")

Answer links (``create_link_router``) and Slack's buttons (``create_slack_router``) mount the
same way. Or run the ready app: ``hitl serve --tokens tokens.txt``. See ``_service.http`` for the
endpoints and their error codes. Without FastAPI installed, importing this module says which extra to install.
"""

from __future__ import annotations

from hitl_notebook._core.extras import extra_required
from hitl_notebook._service.auth import Authenticate, TokenAuth

with extra_required("hitl_notebook.http", "FastAPI", "service", "fastapi", "starlette"):
    from hitl_notebook._service.http import create_app, create_router
    from hitl_notebook._service.http_links import create_link_router
    from hitl_notebook._service.http_slack import create_slack_router

__all__ = [
    "Authenticate",
    "TokenAuth",
    "create_app",
    "create_link_router",
    "create_router",
    "create_slack_router",
]
