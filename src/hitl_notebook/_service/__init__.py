"""The service face: the HTTP API (router, wire types, body limits, token auth), headless workers,
the ``hitl`` command line and its demo.

Imports every layer below (``_core`` to ``_agent``) and the frames, never ``_notebook``.
"""
