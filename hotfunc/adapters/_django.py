"""Django: the app registry's models, and the admin sites' model admins.

A model class built again registers itself with ``apps`` under the same
name, with a ``RuntimeWarning`` ("already registered"); admin sites refuse a
second registration of a model (``AlreadyRegistered``) and keep the old
class's.  Before a model is rebuilt, it leaves the app registry and every
admin site; after, the new class takes its place in both, with the same
``ModelAdmin`` class, as ``admin.site.register(Model, ModelAdmin)`` would
have made it in a fresh import.  A ``ModelAdmin`` class run again leaves the
sites it is registered on, so that its decorator (``@admin.register``)
registers the new one.  A failed statement puts the old ones back.
"""

from __future__ import annotations

import sys

from ..core._redefinition import Redefinition
from ..core._wrappers import is_instance, probe
from ._find import loaded

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..core._redefinition import Settle


def withdraw_model(redefinition: Redefinition) -> Settle | None:
    model_type = loaded("django.db.models", "Model")
    old: Any = redefinition.old
    if model_type is None or not isinstance(old, type) or not issubclass(old, model_type):
        return None
    meta = probe(old, "_meta")
    apps, label, name = probe(meta, "apps"), probe(meta, "app_label"), probe(meta, "model_name")
    models = probe(apps, "all_models")
    registered = isinstance(models, dict) and models.get(label, {}).get(name) is old
    if registered:
        del models[label][name]  # type: ignore[index]
    admins = [(site, site._registry.pop(old)) for site in _sites() if old in site._registry]

    def settle(now: object) -> None:
        if registered and name not in models[label]:  # type: ignore[index]
            models[label][name] = old  # type: ignore[index]  # the statement failed
        if registered:
            apps.clear_cache()  # type: ignore[attr-defined]
        for site, model_admin in admins:
            if now is old or not isinstance(now, type):
                site._registry[old] = model_admin
            elif now not in site._registry:
                site.register(now, type(model_admin))

    return settle


def withdraw_admin(redefinition: Redefinition) -> Settle | None:
    admin_type = loaded("django.contrib.admin", "ModelAdmin")
    old = redefinition.old
    if admin_type is None or not isinstance(old, type) or not issubclass(old, admin_type):
        return None
    held = [
        (site, model, model_admin)
        for site in _sites()
        for model, model_admin in list(site._registry.items())
        if type(model_admin) is old
    ]
    for site, model, _ in held:
        del site._registry[model]
    if not held:
        return None

    def settle(now: object) -> None:
        for site, model, model_admin in held:
            if model in site._registry:
                continue  # the decorator registered the new one
            if now is old or not isinstance(now, type):
                site._registry[model] = model_admin
            else:
                site.register(model, now)  # registered apart: as the statement would

    return settle


def _sites() -> list[Any]:
    """Every admin site the program made: Django keeps a weak set of them."""
    sites: Any = probe(sys.modules.get("django.contrib.admin.sites"), "all_sites")
    try:
        return [s for s in list(sites or ()) if is_instance(probe(s, "_registry"), dict)]
    except Exception:  # not the weak set it should be
        return []
