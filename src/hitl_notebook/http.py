"""The HTTP API of hitl_notebook (needs the ``service`` extra: ``pip install hitl-notebook[service]``).

>>> from fastapi import FastAPI
>>> import hitl_notebook as hitl
>>> from hitl_notebook.http import TokenAuth, create_router
>>> app = FastAPI()
>>> app.include_router(create_router(hitl.connect(), TokenAuth.from_env()), prefix="/hitl")

Or run the ready app: ``hitl serve --tokens tokens.txt``. See ``_http`` for the endpoints and
their error codes.
"""

from __future__ import annotations

from hitl_notebook._auth import Authenticate, TokenAuth
from hitl_notebook._http import create_app, create_router

__all__ = ["Authenticate", "TokenAuth", "create_app", "create_router"]
