"""tornado, the case hotfunc started from: edit a handler, the next request runs it.

    python examples/tornado_app.py [--port 8888]

Both styles are hot: a native ``async def`` handler method, and a legacy
``@gen.coroutine`` helper with ``@hot`` under it.
"""

from __future__ import annotations

import argparse

from tornado import gen, web
from tornado.ioloop import IOLoop

import hotfunc
from hotfunc import hot

PRICES = {"apple": 1.25, "pear": 2.0}  # in-memory state that survives every edit


@gen.coroutine
@hot
def total(items):
    yield gen.sleep(0)
    return sum(PRICES[name] for name in items)


class CartHandler(web.RequestHandler):
    @hot
    async def get(self):
        items = self.get_argument("items", "apple,pear").split(",")
        amount = await total(items)
        self.write({"items": items, "total": amount})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8888)
    port = parser.parse_args().port
    hotfunc.start()
    app = web.Application([(r"/cart", CartHandler)])
    app.listen(port, address="127.0.0.1")
    print(f"serving on http://127.0.0.1:{port}/cart", flush=True)
    IOLoop.current().start()


if __name__ == "__main__":
    main()
