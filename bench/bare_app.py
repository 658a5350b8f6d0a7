"""The ceiling for ``bench.service``: a bare aiohttp handler, served the way the scoring service is.

    .venv/bin/python -m gunicorn bench.bare_app:app -k aiohttp.GunicornWebWorker -w 2 -b 127.0.0.1:8081

No middleware, no validation, no model, no storage: what is left is aiohttp and gunicorn's workers, so the
scoring endpoints' figures can be read as a share of what the framework itself can do on this machine.
"""

from __future__ import annotations

from aiohttp import web


async def hello(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


app = web.Application()
app.router.add_get("/", hello)
