from django.urls import path

from account_creation.ops import views

app_name = "ops"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("request/", views.request_view, name="request"),
    path("request/export.csv", views.request_export_view, name="request_export"),
    path("live/", views.live_view, name="live"),
    path("person/", views.person_view, name="person"),
    path("retry/", views.retry_view, name="retry"),
    path("run-now/", views.run_now_view, name="run_now"),
    path("release/", views.release_view, name="release"),
]
