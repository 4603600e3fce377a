from django.urls import path

from . import views

app_name = "workspace"
urlpatterns = [
    path("", views.workspace_index, name="index"),
    path("<int:merchant_id>/", views.workspace, name="workspace"),
]
