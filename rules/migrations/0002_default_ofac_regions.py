"""The default OFAC region list; operators edit it in the admin or through the API."""

from django.db import migrations

# A copy, not an import: a migration must keep meaning what it meant when it was written.
DEFAULT_OFAC_REGIONS = {
    "CU": "Cuba",
    "IR": "Iran",
    "KP": "North Korea",
    "SY": "Syria",
    "RU": "Russia (sectoral sanctions)",
    "BY": "Belarus",
    "VE": "Venezuela (government)",
    "MM": "Myanmar (Burma)",
}


def add_defaults(apps, schema_editor):
    entry = apps.get_model("rules", "RiskListEntry")
    for code, label in DEFAULT_OFAC_REGIONS.items():
        entry.objects.get_or_create(list_name="ofac_regions", value=code, defaults={"label": label})


def remove_defaults(apps, schema_editor):
    apps.get_model("rules", "RiskListEntry").objects.filter(
        list_name="ofac_regions", value__in=list(DEFAULT_OFAC_REGIONS)
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("rules", "0001_initial")]

    operations = [migrations.RunPython(add_defaults, remove_defaults)]
