"""A definition run again takes the place of its first run in a framework's registry.

Each test builds a real app of the framework in a hot module, serves or
invokes it once, then saves an edit that runs a decorated definition again
(its decorator's text changed), through the real watcher.  The framework
must then serve the new definition where the old one was, and only it, as a
fresh import would.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

import hotfunc

pytestmark = pytest.mark.usefixtures("watching")


def _errors() -> list[str]:
    """What failed, statements and functions alike."""
    return [*hotfunc.registry.failures(), *(e.error for e in hotfunc.registry.entries() if e.error)]


def _load(project, text: str):
    module = project.load(text)
    hotfunc.hot(module)
    return module


def _asgi_get(app: object, path: str) -> tuple[int, str]:
    """One GET through an ASGI app, without a server or an HTTP client."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[operator]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")  # type: ignore[misc]
    return status, body.decode()  # type: ignore[return-value]


def test_flask_serves_a_route_whose_decorator_changed_after_its_first_request(project, wait):
    pytest.importorskip("flask")
    old = """
        from flask import Flask

        app = Flask(__name__)

        @app.route("/old")
        def page():
            return "page"

        @app.route("/other")
        def other():
            return "other"
    """
    mod = _load(project, old)
    client = mod.app.test_client()
    assert client.get("/old").text == "page"  # Flask takes no new route after this
    project.edit(mod, old.replace('"/old"', '"/new"'))
    wait(lambda: client.get("/new").status_code == 200)
    assert client.get("/new").text == "page"
    assert client.get("/old").status_code == 404
    assert client.get("/other").text == "other"
    assert _errors() == []


def test_flask_blueprint_registered_with_a_prefix_takes_the_new_route(project, wait):
    pytest.importorskip("flask")
    old = """
        from flask import Blueprint, Flask

        bp = Blueprint("shop", __name__)

        @bp.route("/a")
        def item():
            return "item"

        app = Flask(__name__)
        app.register_blueprint(bp, url_prefix="/shop")
    """
    mod = _load(project, old)
    client = mod.app.test_client()
    assert client.get("/shop/a").text == "item"
    project.edit(mod, old.replace('"/a"', '"/b"'))
    wait(lambda: client.get("/shop/b").status_code == 200)
    assert client.get("/shop/b").text == "item"
    assert client.get("/shop/a").status_code == 404
    assert _errors() == []


def test_flask_keeps_the_old_route_when_the_new_definition_fails(project, wait):
    pytest.importorskip("flask")
    old = """
        from flask import Flask

        app = Flask(__name__)

        @app.route("/old")
        def page():
            return "page"
    """
    mod = _load(project, old)
    client = mod.app.test_client()
    assert client.get("/old").text == "page"
    project.edit(mod, old.replace('route("/old")', 'route("/new", methods=MISSING_NAME)'))
    wait(lambda: _errors())
    assert "MISSING_NAME" in _errors()[0]
    assert client.get("/old").text == "page"
    assert client.get("/new").status_code == 404


def test_fastapi_route_keeps_its_place_before_a_catch_all(project, wait):
    pytest.importorskip("fastapi")
    old = """
        from fastapi import APIRouter, FastAPI

        app = FastAPI()
        router = APIRouter()

        @app.get("/first")
        def first():
            return "first"

        @app.get("/{name}")
        def anything(name: str):
            return "catch-all"

        @router.get("/x")
        def x():
            return "x"

        app.include_router(router, prefix="/sub")
    """
    mod = _load(project, old)
    assert _asgi_get(mod.app, "/first") == (200, '"first"')
    assert _asgi_get(mod.app, "/sub/x") == (200, '"x"')
    new = old.replace('@app.get("/first")', '@app.get("/first", status_code=201)')
    project.edit(mod, new.replace('@router.get("/x")', '@router.get("/y")'))
    # The new route must come before the catch-all, where the old one was.
    wait(lambda: _asgi_get(mod.app, "/first") == (201, '"first"'))
    wait(lambda: _asgi_get(mod.app, "/sub/y") == (200, '"x"'))
    assert _asgi_get(mod.app, "/sub/x")[0] == 404
    endpoints = [getattr(r, "endpoint", None) for r in mod.app.router.routes]
    assert endpoints.count(mod.first) == 1
    assert endpoints.index(mod.first) < endpoints.index(mod.anything)
    assert _errors() == []


def test_starlette_route_in_a_list_follows_its_endpoint_run_again(project, wait):
    pytest.importorskip("starlette")
    old = """
        import functools

        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        def tagged(tag):
            def decorate(func):
                func.tag = tag
                return func
            return decorate

        @tagged("v1")
        def home(request):
            return PlainTextResponse("home " + home.tag)

        app = Starlette(routes=[Route("/", home)])
    """
    mod = _load(project, old)
    assert _asgi_get(mod.app, "/") == (200, "home v1")
    project.edit(mod, old.replace('@tagged("v1")', '@tagged("v2")'))
    wait(lambda: _asgi_get(mod.app, "/") == (200, "home v2"))
    assert [r.endpoint for r in mod.app.router.routes] == [mod.home]


def test_click_command_added_apart_is_replaced_in_its_group(project, wait):
    pytest.importorskip("click")
    from click.testing import CliRunner

    old = """
        import click

        @click.group()
        def cli():
            pass

        @click.command("hello")
        def hello():
            click.echo("hello")

        @click.command()
        def bye():
            click.echo("bye")

        cli.add_command(hello)
        cli.add_command(bye)
    """
    mod = _load(project, old)
    assert CliRunner().invoke(mod.cli, ["hello"]).output == "hello\n"
    project.edit(mod, old.replace('command("hello")', 'command("hello", help="Greets.")'))
    wait(lambda: mod.cli.commands["hello"].help == "Greets.")
    assert mod.cli.commands["hello"] is mod.hello
    assert list(mod.cli.commands) == ["hello", "bye"]
    assert "Greets." in CliRunner().invoke(mod.cli, ["--help"]).output
    assert CliRunner().invoke(mod.cli, ["hello"]).output == "hello\n"


def test_typer_command_is_registered_once(project, wait):
    pytest.importorskip("typer")
    from typer.testing import CliRunner

    old = """
        import typer

        app = typer.Typer()

        @app.command("hello")
        def hello():
            print("hello")

        @app.command()
        def bye():
            print("bye")
    """
    mod = _load(project, old)
    assert CliRunner().invoke(mod.app, ["hello"]).output == "hello\n"
    project.edit(mod, old.replace('command("hello")', 'command("hello", help="Greets.")'))
    wait(lambda: mod.app.registered_commands[0].help == "Greets.")
    assert [c.callback for c in mod.app.registered_commands] == [mod.hello, mod.bye]
    assert "Greets." in CliRunner().invoke(mod.app, ["--help"]).output


def test_a_programs_own_adapter_lets_its_registry_take_the_definition_again(project, wait):
    old = """
        REGISTRY = {}

        def algorithm(name):
            def register(func):
                if name in REGISTRY:
                    raise KeyError(f"{name} already exists")
                REGISTRY[name] = func
                func.algorithm = name
                return func
            return register

        @algorithm("shortest")
        def shortest(graph):
            return 1
    """
    mod = _load(project, old)
    seen: list[hotfunc.Redefinition] = []

    @hotfunc.adapter
    def forget(redefinition: hotfunc.Redefinition):
        name = getattr(redefinition.old, "algorithm", None)
        if mod.REGISTRY.get(name) is not redefinition.old:
            return None
        seen.append(redefinition)
        del mod.REGISTRY[name]

        def settle(now):
            mod.REGISTRY.setdefault(name, now)  # the old one back if the statement failed

        return settle

    try:
        project.edit(mod, old.replace("def shortest(graph):", "def shortest(graph, weight=None):"))
        project.edit(
            mod,
            old.replace('@algorithm("shortest")', '@algorithm(name="shortest")').replace(
                "return 1", "return 2"
            ),
        )
        wait(lambda: mod.REGISTRY["shortest"](None) == 2)
        assert mod.REGISTRY["shortest"] is mod.shortest
        assert seen and seen[-1].name == "shortest" and seen[-1].line == 14
        assert mod.algorithm in seen[-1].registrars
        assert _errors() == []
    finally:
        hotfunc._state.adapters.remove(forget)


def test_an_adapter_that_raises_is_logged_and_the_definition_runs(project, wait, caplog):
    old = """
        def tag(value):
            def decorate(func):
                func.tag = value
                return func
            return decorate

        @tag(1)
        def f():
            return 1
    """
    mod = _load(project, old)

    def broken(redefinition):
        raise RuntimeError("boom")

    hotfunc.adapter(broken)
    try:
        project.edit(mod, old.replace("@tag(1)", "@tag(2)"))
        wait(lambda: mod.f.tag == 2)
        wait(lambda: "the registry adapter" in caplog.text)
        assert "broken raised RuntimeError: boom" in caplog.text
    finally:
        hotfunc._state.adapters.remove(broken)


def test_adapter_rejects_what_cannot_be_called():
    with pytest.raises(TypeError, match="adapter\\(\\) takes a callable"):
        hotfunc.adapter(42)  # type: ignore[arg-type]


DJANGO = """
import sys, time, warnings
warnings.simplefilter("error", RuntimeWarning)
sys.path.insert(0, {root!r})
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.admin",
                    "django.contrib.messages", "django.contrib.sessions", "shop"],
    DATABASES={{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}}},
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
)
django.setup()
import hotfunc
from django.apps import apps
from django.contrib import admin
import shop.models, shop.admin
hotfunc.hot(shop.models)
hotfunc.hot(shop.admin)
hotfunc.start()
old = apps.get_model("shop", "Book")
path = shop.models.__file__
text = open(path).read()
with open(path + ".tmp", "w") as f:
    field = "title = models.CharField(max_length=10)"
    f.write(text.replace(field, field + "\\n    pages = models.IntegerField(default=0)"))
import os
os.replace(path + ".tmp", path)
deadline = time.monotonic() + 20
while time.monotonic() < deadline and apps.get_model("shop", "Book") is old:
    time.sleep(0.05)
new = apps.get_model("shop", "Book")
assert new is not old, "the model was not rebuilt"
assert new is shop.models.Book
assert [f.name for f in new._meta.fields] == ["id", "title", "pages"], new._meta.fields
while time.monotonic() < deadline and new not in admin.site._registry:
    time.sleep(0.05)
assert new in admin.site._registry and old not in admin.site._registry, admin.site._registry
assert type(admin.site._registry[new]).__name__ == "BookAdmin"
assert hotfunc.registry.failures() == [], hotfunc.registry.failures()
print("OK")
"""


@pytest.mark.timeout(120)
def test_django_model_rebuilt_takes_its_place_in_the_app_registry_and_the_admin(tmp_path):
    """In a process of its own: Django's settings are configured once per process."""
    pytest.importorskip("django")
    app = tmp_path / "shop"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "models.py").write_text(
        textwrap.dedent(
            """
            from django.db import models

            class Book(models.Model):
                title = models.CharField(max_length=10)

                class Meta:
                    app_label = "shop"
            """
        )
    )
    (app / "admin.py").write_text(
        textwrap.dedent(
            """
            from django.contrib import admin

            from .models import Book

            @admin.register(Book)
            class BookAdmin(admin.ModelAdmin):
                list_display = ["title"]
            """
        )
    )
    script = tmp_path / "run.py"
    script.write_text(DJANGO.format(root=str(tmp_path)))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=100, check=False
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("OK"), done.stderr
    assert "already registered" not in done.stderr


def test_the_adapters_do_nothing_until_their_framework_is_imported(tmp_path):
    """``import hotfunc`` imports no framework, and a redefinition asks none."""
    code = textwrap.dedent(
        """
        import sys
        import hotfunc
        from hotfunc import adapters
        from hotfunc.core._redefinition import Redefinition
        settles = adapters.withdraw(Redefinition("m", "f", lambda: 1, (), "m.py", 1))
        frameworks = {"flask", "starlette", "fastapi", "click", "typer", "django"}
        print(settles, sorted(frameworks & set(sys.modules)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[] []"
