"""The HTTP API of hitl_notebook (needs the ``service`` extra: ``pip install 'hitl-notebook[service]'``).

>>> from fastapi import FastAPI
>>> import hitl_notebook as hitl
>>> from hitl_notebook.http import TokenAuth, create_router
>>> app = FastAPI()
>>> app.include_router(create_router(hitl.connect(), TokenAuth.from_env()), prefix="/hitl")

Or run the ready app: ``hitl serve --tokens tokens.txt``. See ``_service.http`` for the endpoints and
their error codes. Without FastAPI installed, importing this module says which extra to install.
"""

from __future__ import annotations

from hitl_notebook._core.extras import extra_required
from hitl_notebook._service.auth import Authenticate, TokenAuth

with extra_required("hitl_notebook.http", "FastAPI", "service", "fastapi", "starlette"):
    from hitl_notebook._service.http import create_app, create_router

__all__ = ["Authenticate", "TokenAuth", "create_app", "create_router"]
