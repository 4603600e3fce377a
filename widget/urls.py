from django.urls import path

from . import prechat, survey, transcript, views

app_name = "widget"
urlpatterns = [
    path("loader.js", views.loader, name="loader"),
    path("demo/", views.demo, name="demo"),
    path("api/bootstrap", views.bootstrap, name="bootstrap"),
    path("api/offline", views.offline, name="offline"),
    path("api/attachments", views.attachment_upload, name="attachments"),
    path("api/prechat", prechat.prechat, name="prechat"),
    path("rate/<str:token>/", survey.survey, name="survey"),
    path("api/transcript", transcript.transcript, name="transcript"),
]
