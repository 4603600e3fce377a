"""Notification, moved here from conversations (conversations 0004). The table already exists
(created by conversations 0003) and keeps its name through Meta.db_table, so this migration
changes Django's state only, plus the content type row, so the permissions granted on the model
stay granted."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def move_content_type(apps, schema_editor, old='conversations', new='notifications'):
    ContentType = apps.get_model('contenttypes', 'ContentType')
    db = schema_editor.connection.alias
    # On a fresh database neither exists yet (post_migrate creates the new one); on a database
    # that already has the new one, there is nothing to carry over.
    if not ContentType.objects.using(db).filter(app_label=new, model='notification').exists():
        ContentType.objects.using(db).filter(app_label=old, model='notification').update(
            app_label=new)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, old='notifications', new='conversations')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('conversations', '0003_notification_routingevent_conversation_assigned_at_and_more'),
        ('merchants', '0003_membership_last_assigned_at_and_more'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Notification',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('channel', models.CharField(choices=[('in_app', 'In the workspace'), ('sms', 'SMS'), ('email', 'Email')], max_length=10, verbose_name='channel')),
                        ('reason', models.CharField(choices=[('new', 'New conversation'), ('queued', 'Visitor waiting in the queue'), ('unanswered', 'Unanswered message'), ('returned', 'Returned to the queue after timeouts'), ('offline', 'Message left')], max_length=20, verbose_name='reason')),
                        ('key', models.CharField(max_length=200, unique=True)),
                        ('sent', models.BooleanField(default=False, verbose_name='sent')),
                        ('error', models.CharField(blank=True, max_length=500, verbose_name='error')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
                        ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='conversations.conversation')),
                        ('merchant', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='merchants.merchant')),
                        ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name': 'notification',
                        'verbose_name_plural': 'notifications',
                        'db_table': 'conversations_notification',
                        'indexes': [models.Index(fields=['merchant', '-created_at'], name='notification_recent')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
