"""Data-migration steps the apps' migrations share: granting permissions to the console's
roles, installing a periodic task, and moving models' content types to another app.

Each returns a RunPython operation with its reverse. Migrations keep only what is their own:
which roles get what, which task runs how often, which models moved."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

Grants = dict[str, list[tuple[str, str]]]  # role name -> [(app_label, codename)]


def _permissions_create_now(apps) -> None:
    # Permissions are normally created after all migrations ran; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def _permissions(apps, codenames):
    permission_model = apps.get_model("auth", "Permission")
    return [
        permission_model.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in codenames
    ]


def roles_grant(grants: Grants, *, exactly: bool = False) -> migrations.RunPython:
    """Give each role (a Group, created if missing) these permissions; `exactly` replaces what
    the role had. Reversed, the permissions are taken back (and `exactly` roles removed)."""

    def forward(apps, schema_editor):
        _permissions_create_now(apps)
        group_model = apps.get_model("auth", "Group")
        for name, codenames in grants.items():
            group, _ = group_model.objects.get_or_create(name=name)
            if exactly:
                group.permissions.set(_permissions(apps, codenames))
            else:
                group.permissions.add(*_permissions(apps, codenames))

    def backward(apps, schema_editor):
        group_model = apps.get_model("auth", "Group")
        permission_model = apps.get_model("auth", "Permission")
        if exactly:
            group_model.objects.filter(name__in=list(grants)).delete()
            return
        for name, codenames in grants.items():
            group = group_model.objects.filter(name=name).first()
            if group is None:
                continue
            for app, codename in codenames:
                group.permissions.remove(
                    *permission_model.objects.filter(content_type__app_label=app, codename=codename)
                )

    return migrations.RunPython(forward, backward)


def schedule_install(*, name: str, func: str, minutes: int = 1) -> migrations.RunPython:
    """A django-q2 schedule running `func` every `minutes`, forever; reversed, removed."""

    def forward(apps, schema_editor):
        apps.get_model("django_q", "Schedule").objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1},
        )

    def backward(apps, schema_editor):
        apps.get_model("django_q", "Schedule").objects.filter(name=name).delete()

    return migrations.RunPython(forward, backward)


def content_types_move(*, models: tuple[str, ...], from_app: str, to_app: str):
    """Content types follow models that moved to another app, so permissions and the roles'
    grants keep working."""

    def forward(apps, schema_editor):
        content_type = apps.get_model("contenttypes", "ContentType")
        for model in models:
            if not content_type.objects.filter(app_label=to_app, model=model).exists():
                content_type.objects.filter(app_label=from_app, model=model).update(
                    app_label=to_app
                )

    def backward(apps, schema_editor):
        content_type = apps.get_model("contenttypes", "ContentType")
        content_type.objects.filter(app_label=to_app, model__in=models).update(app_label=from_app)

    return migrations.RunPython(forward, backward)
