"""Only the knowledge-base API, so the schema test judges these endpoints and nothing else."""

from django.urls import include, path

urlpatterns = [path("api/v1/kb/", include("knowledge.urls"))]
