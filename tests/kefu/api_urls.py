"""Only the REST API, so the schema test judges these endpoints and nothing else."""

from django.urls import include, path

urlpatterns = [path("api/v1/", include("kefu.api_urls"))]
