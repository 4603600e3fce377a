"""The Notification model moved to the notifications app (notifications 0001). Only Django's
state changes here: the table and its rows stay where they are."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0003_notification_routingevent_conversation_assigned_at_and_more'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='Notification')],
            database_operations=[],
        ),
    ]
