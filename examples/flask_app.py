"""Flask with its own reloader off, so the process and its state stay.

    python examples/flask_app.py [--port 5000]

Flask's reloader restarts the whole process on every save; hotfunc swaps the
view function instead.
"""

from __future__ import annotations

import argparse

from flask import Flask, jsonify

import hotfunc
from hotfunc import hot

app = Flask(__name__)
SESSIONS = {"alice": {"cart": ["apple"]}}  # survives every edit


@app.get("/user/<name>")
@hot
def user(name: str):
    return jsonify({"name": name, "cart": SESSIONS.get(name, {}).get("cart", [])})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000)
    port = parser.parse_args().port
    hotfunc.start()
    print(f"serving on http://127.0.0.1:{port}/user/alice", flush=True)
    app.run(host="127.0.0.1", port=port, debug=False, use_reloader=False)
