import django.db.models.deletion
import monitoring.models.servers
import monitoring.models.statuspages
import monitoring.validators
from django.conf import settings
from django.db import migrations, models


def give_each_server_its_own_badge_key(apps, schema_editor):
    # AddField evaluates a callable default once, so existing rows would share one key.
    Server = apps.get_model("monitoring", "Server")
    for server in Server.objects.only("pk"):
        Server.objects.filter(pk=server.pk).update(badge_key=monitoring.models.servers.new_badge_key())


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0004_notification_deliveries_incidents"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="server",
            name="badge_key",
            field=models.CharField(editable=False, max_length=40, null=True),
        ),
        migrations.RunPython(give_each_server_its_own_badge_key, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="server",
            name="badge_key",
            field=models.CharField(
                default=monitoring.models.servers.new_badge_key, editable=False, max_length=40, unique=True
            ),
        ),
        migrations.CreateModel(
            name="StatusPage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "slug",
                    models.CharField(
                        max_length=60, unique=True, validators=[monitoring.models.statuspages.SLUG_RULE]
                    ),
                ),
                ("title", models.CharField(max_length=200)),
                ("description", models.TextField(blank=True, max_length=5000)),
                (
                    "tags",
                    models.JSONField(blank=True, default=list, validators=[monitoring.validators.validate_tags]),
                ),
                ("is_public", models.BooleanField(default=False)),
                ("show_response_times", models.BooleanField(default=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "owner",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="status_pages",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("servers", models.ManyToManyField(blank=True, related_name="status_pages", to="monitoring.server")),
            ],
            options={"ordering": ["slug"]},
        ),
    ]
