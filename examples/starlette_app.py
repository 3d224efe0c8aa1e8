"""Starlette (what FastAPI is built on) under uvicorn, without --reload.

    python examples/starlette_app.py [--port 8000]

``uvicorn --reload`` restarts the worker process on every save; hotfunc swaps
the endpoint in place, and runs what else the save changed: a new import, a
new helper, a new method on a service, a changed constant, a new route added
with ``app.add_route``.  FastAPI endpoints take ``@hot`` the same way, under
the route decorator, and a new ``@app.get`` endpoint is added by its save.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

import hotfunc
from hotfunc import hot

INVENTORY = {"apple": 3, "pear": 0}  # survives every edit
UNIT = "crates"


class StockService:
    def count(self, item: str) -> int:
        return INVENTORY.get(item, 0)


SERVICE = StockService()


@hot
async def stock(request):
    item = request.path_params["item"]
    return JSONResponse({"item": item, "in_stock": SERVICE.count(item), "unit": UNIT})


app = Starlette(routes=[Route("/stock/{item}", stock)])

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    port = parser.parse_args().port
    hotfunc.start()
    print(f"serving on http://127.0.0.1:{port}/stock/apple", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
