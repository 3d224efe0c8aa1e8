"""Flask with its own reloader off, so the process and its state stay.

    python examples/flask_app.py [--port 5000]

Flask's reloader restarts the whole process on every save; hotfunc swaps the
view function instead, and runs what else the save changed: a new import, a
new helper, a new method on a service, a changed constant.  Flask accepts no
new route once it has served a request: hotfunc says so, and a restart is
needed for that one.
"""

from __future__ import annotations

import argparse

from flask import Flask, jsonify

import hotfunc
from hotfunc import hot

app = Flask(__name__)
SESSIONS = {"alice": {"cart": ["apple"]}}  # survives every edit
CURRENCY = "EUR"


class CartService:
    def items(self, name: str) -> list[str]:
        return SESSIONS.get(name, {}).get("cart", [])


SERVICE = CartService()


@app.get("/user/<name>")
@hot
def user(name: str):
    return jsonify({"name": name, "cart": SERVICE.items(name), "currency": CURRENCY})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000)
    port = parser.parse_args().port
    hotfunc.start()
    print(f"serving on http://127.0.0.1:{port}/user/alice", flush=True)
    app.run(host="127.0.0.1", port=port, debug=False, use_reloader=False)
