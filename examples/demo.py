"""hotfunc in one minute: a running app, a bug, a fix saved to disk, no restart.

The demo writes a small app module, imports it (paying a pretend slow boot),
and serves requests.  The handler has a bug.  The demo then edits the app's
source file on disk, as you would in an editor, and the very next request runs
the fixed code: same process, same in-memory state, boot not paid again.
Then a second save adds an import, a constant and a helper, and the handler
uses them: the new lines run once, the boot lines never again.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import hotfunc
from hotfunc.testing import wait_for, write_source

APP = textwrap.dedent(
    '''
    """A tiny order service."""
    import time
    from hotfunc import hot

    time.sleep(0.5)  # stands in for minutes of boot: loading config, caches, models
    BOOTED_AT = time.time()
    ORDERS = {"alice": [12.5, 7.5], "bob": [3.0]}  # in-memory state we must not lose

    @hot
    def handle(request):
        user = request["user"]
        return {"user": user, "total": sum(ORDERS[user]), "currency": request["currency"]}
    '''
)

FIX = (
    'request["currency"]}',
    'request.get("currency", "EUR")}',
)

# The second save: new top-level code, and a handler that uses it.
GROW = (
    (
        "from hotfunc import hot\n",
        "from hotfunc import hot\nimport json\nVAT = 0.2\n\n"
        "def with_vat(amount):\n    return round(amount * (1 + VAT), 2)\n",
    ),
    (
        '"total": sum(ORDERS[user])',
        '"total": with_vat(sum(ORDERS[user])), "as_json": json.dumps(user)',
    ),
)


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="hotfunc-demo-"))
    app_file = workdir / "orders_app.py"
    write_source(app_file, APP)
    sys.path.insert(0, str(workdir))

    print(f"booting the app from {app_file} ...")
    app = importlib.import_module("orders_app")
    booted_at = app.BOOTED_AT
    durations: list[float] = []
    hotfunc.on_reload(lambda event: durations.append(event.duration))
    hotfunc.start()

    request = {"user": "alice"}
    print(f"\nrequest:  {request}")
    try:
        print(f"response: {app.handle(request)}")
    except KeyError as exc:
        print(f"response: KeyError {exc}  <- the bug; no restart needed")

    print(f"\nsaving the fix to {app_file.name}: {FIX[0]!r} -> {FIX[1]!r}")
    write_source(app_file, app_file.read_text().replace(*FIX), atomic=True)
    saved = time.perf_counter()

    def fixed() -> bool:
        try:
            app.handle(request)
        except KeyError:
            return False
        return True

    wait_for(fixed, timeout=10, interval=0.0005)
    latency = time.perf_counter() - saved
    wait_for(lambda: durations, timeout=10)  # callbacks run just after the swap
    print(f"response: {app.handle(request)}")
    print(f"\nfrom save to the first call on new code: {latency * 1e3:.1f} ms")
    print(f"reload itself (read, compile, swap):     {durations[-1] * 1e3:.1f} ms")

    print("\nsaving a second edit: `import json`, `VAT = 0.2` and a helper, used by the handler")
    text = app_file.read_text()
    for old, new in GROW:
        text = text.replace(old, new)
    write_source(app_file, text, atomic=True)
    wait_for(lambda: "as_json" in app.handle(request), timeout=10, interval=0.0005)
    print(f"response: {app.handle(request)}")
    print(f"boot ran once: {booted_at == app.BOOTED_AT}; orders kept: {app.ORDERS}")
    print(f"\n{hotfunc.registry!r}")
    hotfunc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
