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

from hitl_notebook._service.auth import Authenticate, TokenAuth

try:
    from hitl_notebook._service.http import create_app, create_router
except ModuleNotFoundError as error:
    if error.name is None or error.name.partition(".")[0] not in {"fastapi", "starlette"}:
        raise
    raise ModuleNotFoundError(
        f"hitl_notebook.http needs FastAPI, which is not installed here ({error}); "
        "install the service extra: pip install 'hitl-notebook[service]'",
        name=error.name,
    ) from error

__all__ = ["Authenticate", "TokenAuth", "create_app", "create_router"]
