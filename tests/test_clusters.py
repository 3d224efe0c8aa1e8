"""Dask and Ray workers follow the driver's saves, from a copy of the code of their own.

Each test runs a real driver process with a real cluster on this machine.
The workers import the code from a separate folder, a copy that the edits
never touch, as on another machine: what reaches them is the shipped text.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

MODEL = """
import os
from hotfunc import hot

LOADS = []
LOADS.append(os.getpid())  # runs at import only: the worker's state
VERSION = "v1"


@hot
def predict(x):
    return (VERSION, len(LOADS), x)
"""

LATE = """
from hotfunc import hot


@hot
def answer():
    return "late v1"
"""

# Both drivers' last step: a module only the driver's folder has, so that
# the workers import the driver's own file, and a task that asks it.
STRESS = """
stress_path = os.path.join(driver_dir, "stress.py")
write_source(stress_path, "def value():\\n    return 0\\n")
import stress
hotfunc.hot(stress)

def ask_stress():
    if driver_dir not in sys.path:
        sys.path.append(driver_dir)
    import stress
    return stress.value()
"""

# Runs in the driver: each step prints a line the test reads.
DASK_DRIVER = (
    """
import os, sys, time
driver_dir, worker_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, driver_dir)
import hotfunc, hotfunc.dask
from hotfunc.testing import wait_for, write_source
from distributed import Client, LocalCluster
import model, late

hotfunc.start()
cluster = LocalCluster(
    n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
    preload=[os.path.join(worker_dir, "preload.py")],
)
client = Client(cluster)
following = hotfunc.dask.follow(client)
path = os.path.join(driver_dir, "model.py")
text = open(path).read()

def everywhere(expected, n=2):
    def check():
        answers = client.run(lambda: __import__("model").predict(0))
        return len(answers) == n and set(answers.values()) == {expected}
    wait_for(check, timeout=30)

def step(name):
    print(name, flush=True)

# An edit of a constant and of a function body: every worker, state kept.
text = text.replace('"v1"', '"v2"')
write_source(path, text)
everywhere(("v2", 1, 0))
step("edited")

# Saves faster than the workers apply them: each lands whole, the last one last.
for i in range(3, 13):
    text = text.replace(f'"v{i - 1}"', f'"v{i}"')
    write_source(path, text)
everywhere(("v12", 1, 0))
step("rapid")

# A statement that raises only on the workers: one WARNING per worker, with
# file:line, and the registry shows it.  The rest of the save applies.
text = text.replace('"v12"', '"v13"') + (
    "\\nif 'worker_copy' in __file__:\\n    raise RuntimeError('only on the workers')\\n"
)
write_source(path, text)
everywhere(("v13", 1, 0))
wait_for(lambda: len([w for w in hotfunc.registry.workers() if w[2]]) == 2, timeout=30)
step("failed " + repr(hotfunc.registry).replace("\\n", " | "))

# A later worker: its preload imported model from its own copy before it
# joined; it has never imported late, which the driver edited.
late_path = os.path.join(driver_dir, "late.py")
write_source(late_path, open(late_path).read().replace("v1", "v2"))
wait_for(lambda: late.answer() == "late v2")
cluster.scale(3)
client.wait_for_workers(3, timeout=60)
everywhere(("v13", 1, 0), n=3)
answers = client.run(lambda: __import__("late").answer())
step("late " + " ".join(sorted(set(answers.values()))))

# The workers' copies never changed.
step("copy " + str('"v1"' in open(os.path.join(worker_dir, "model.py")).read()))

# Ten saves, each followed at once by a task on each worker that ran before
# (importing the driver's own file, as on a laptop) and by one on a worker
# added right after the save.
"""
    + STRESS
    + """
def on(worker):
    return client.submit(ask_stress, workers=[worker], allow_other_workers=False, pure=False)

def workers():
    return set(client.scheduler_info()["workers"])

n = len(workers())
client.gather([on(w) for w in workers()])
stale = []
for i in range(1, 11):
    before = workers()  # each ran the module before this save
    write_source(stress_path, f"def value():\\n    return {i}\\n")
    wait_for(lambda: stress.value() == i)
    answers = client.gather([on(w) for w in before])
    cluster.scale(n + 1)
    wait_for(lambda: len(workers()) == n + 1, timeout=60)
    answers += client.gather([on(w) for w in workers() - before])
    stale += [(i, a) for a in answers if a != i]
    cluster.scale(n)
    wait_for(lambda: len(workers()) == n, timeout=60)
step("stress " + repr(stale))

# hotfunc.stop(): the workers keep what they have and follow no more.
hotfunc.stop()
write_source(path, text.replace('"v13"', '"v14"'))
hotfunc.reload(path)
assert model.predict(0)[0] == "v14"
time.sleep(0.5)  # a save that would arrive does so well within this
answers = client.run(lambda: __import__("model").predict(0))
step("stopped " + " ".join(sorted({a[0] for a in answers.values()})))
client.close()
cluster.close()
"""
)

PRELOAD = """
import sys

def dask_setup(worker):
    # As on another machine: the code comes from this folder's copy.
    here = {here!r}
    sys.path[:] = [here] + [p for p in sys.path if p != {driver!r}]
    import model
"""


def _copies(tmp_path: Path) -> tuple[Path, Path]:
    driver = tmp_path / "driver_copy"
    worker = tmp_path / "worker_copy"
    for folder in (driver, worker):
        folder.mkdir()
        (folder / "model.py").write_text(textwrap.dedent(MODEL))
        (folder / "late.py").write_text(textwrap.dedent(LATE))
    (worker / "preload.py").write_text(
        textwrap.dedent(PRELOAD.format(here=str(worker), driver=str(driver)))
    )
    return driver, worker


def _driver(
    tmp_path: Path, code: str, driver: Path, worker: Path
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "driver.py"
    # Dask's and Ray's worker processes import the main script again.
    body = textwrap.indent(textwrap.dedent(code), "    ")
    script.write_text(f"if __name__ == '__main__':\n{body}")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HOTFUNC_")}
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [sys.executable, str(script), str(driver), str(worker)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        env=environ,
        check=False,
    )


@pytest.mark.timeout(300)
def test_dask_workers_follow_the_driver(tmp_path):
    pytest.importorskip("distributed")
    driver, worker = _copies(tmp_path)
    done = _driver(tmp_path, DASK_DRIVER, driver, worker)
    steps = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert done.returncode == 0, done.stdout + done.stderr
    assert {"edited", "rapid", "failed", "late", "copy", "stopped"} <= set(steps)
    assert steps["late"] == "late late v2"
    assert steps["copy"] == "copy True"
    assert steps["stress"] == "stress []"  # no task ran older code than the driver
    assert steps["stopped"] == "stopped v13"
    assert steps["failed"].count("only on the workers") == 2, steps["failed"]
    # The driver's own lines: one per worker, naming it and file:line.  (The
    # workers print theirs too, each with its pid, as a following process does.)
    warnings = [
        line
        for line in done.stderr.splitlines()
        if line.startswith("hotfunc: WARNING: on dask worker tcp://")
    ]
    assert len(warnings) >= 2, done.stderr
    assert all(
        "worker_copy/model.py:" in line and "only on the workers" in line for line in warnings
    )
    assert len({line.split(")")[0] for line in warnings}) == len(warnings), warnings


# One Ray instance for the whole test: its start-up is heavy on two cores.
RAY_DRIVER = (
    """
import os, sys, time
driver_dir, worker_dir = sys.argv[1], sys.argv[2]
sys.path.insert(0, driver_dir)
import hotfunc, hotfunc.ray, ray
from hotfunc.testing import wait_for, write_source
import model, late

hotfunc.start()
env = hotfunc.ray.runtime_env({"env_vars": {"PYTHONPATH": worker_dir}})
import json
assert json.loads(json.dumps(env)) == env  # plain data: ray job submit takes it too
ray.init(num_cpus=2, include_dashboard=False, runtime_env=env, log_to_driver=False)

@ray.remote
class Holder:
    # An actor's state: loaded once, kept across saves.
    def __init__(self):
        sys.path[:] = [worker_dir] + [p for p in sys.path if p != driver_dir]
        import model
        self.loaded = model.predict(0)
    def ask(self, module="model"):
        import importlib
        if module == "model":
            return self.loaded[0], __import__("model").predict(0)
        return importlib.import_module(module).answer()
    def where(self):
        return __import__("model").__file__

def step(name):
    print(name, flush=True)

holders = [Holder.remote() for _ in range(2)]
path = os.path.join(driver_dir, "model.py")
text = open(path).read()
step("where " + " ".join(sorted({ray.get(h.where.remote()) for h in holders})))

def everywhere(expected, actors):
    wait_for(lambda: {ray.get(h.ask.remote())[1] for h in actors} == {expected}, timeout=60)

text = text.replace('"v1"', '"v2"')
write_source(path, text)
everywhere(("v2", 1, 0), holders)
step("edited " + " ".join(sorted({ray.get(h.ask.remote())[0] for h in holders})))

for i in range(3, 13):
    text = text.replace(f'"v{i - 1}"', f'"v{i}"')
    write_source(path, text)
everywhere(("v12", 1, 0), holders)
step("rapid")

text = text.replace('"v12"', '"v13"') + (
    "\\nif 'worker_copy' in __file__:\\n    raise RuntimeError('only on the workers')\\n"
)
write_source(path, text)
everywhere(("v13", 1, 0), holders)
wait_for(lambda: len([w for w in hotfunc.registry.workers() if w[2]]) >= 2, timeout=30)
step("failed " + repr(hotfunc.registry).replace("\\n", " | "))

# The fix: a worker that starts from now on imports what a fresh one would.
text = text.split("\\nif 'worker_copy'")[0]
write_source(path, text)
wait_for(lambda: not any(w[2] for w in hotfunc.registry.workers()), timeout=30)

late_path = os.path.join(driver_dir, "late.py")
write_source(late_path, open(late_path).read().replace("v1", "v2"))
wait_for(lambda: late.answer() == "late v2")
newcomer = Holder.remote()  # a worker that starts now, at an older copy
everywhere(("v13", 1, 0), [newcomer])
wait_for(lambda: ray.get(newcomer.ask.remote("late")) == "late v2", timeout=30)
step("late " + ray.get(newcomer.ask.remote("late")))

# Ten saves, each followed at once by a task on a worker that ran before and
# by one on a worker that starts for it (max_calls=1).  Both import the
# driver's own file, as on a laptop: the worker copy has no such module.
"""
    + STRESS
    + """
before, fresh = ray.remote(ask_stress), ray.remote(max_calls=1)(ask_stress)
ray.get([before.remote() for _ in range(4)])
stale = []
for i in range(1, 11):
    write_source(stress_path, f"def value():\\n    return {i}\\n")
    wait_for(lambda: stress.value() == i)
    stale += [(i, a) for a in ray.get([before.remote(), fresh.remote()]) if a != i]
step("stress " + repr(stale))

hotfunc.stop()
write_source(path, text.replace('"v13"', '"v14"'))
time.sleep(1)
step("stopped " + ray.get(holders[0].ask.remote())[1][0])
ray.shutdown()
"""
)


@pytest.mark.timeout(300)
def test_ray_workers_follow_the_driver(tmp_path):
    pytest.importorskip("ray")
    driver, worker = _copies(tmp_path)
    done = _driver(tmp_path, RAY_DRIVER, driver, worker)
    steps = {line.split()[0]: line for line in done.stdout.splitlines() if line.strip()}
    assert done.returncode == 0, done.stdout + done.stderr
    assert steps["where"] == f"where {worker / 'model.py'}"
    assert {"edited", "rapid", "failed", "late", "stopped"} <= set(steps)
    assert steps["edited"] == "edited v1"  # the actors' state, loaded before the save, is kept
    assert steps["failed"].count("only on the workers") >= 2, steps["failed"]
    assert steps["late"] == "late late v2"
    assert steps["stress"] == "stress []"  # no task ran older code than the driver
    assert steps["stopped"] == "stopped v13"
    warnings = [
        line
        for line in done.stderr.splitlines()
        if line.startswith("hotfunc: WARNING: on ray worker")
    ]
    assert len(warnings) >= 2, done.stderr
    assert all(
        "worker_copy/model.py:" in line and "only on the workers" in line for line in warnings
    )
