from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from account_creation.ops.views import metrics_view
from accountsync.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    # The status dashboard lives inside the admin's URL space (staff only, admin look).
    path("admin/status/", include("account_creation.ops.urls")),
    path("admin/", admin.site.urls),
    path("account-creation/", include("account_creation.api.urls")),
    path("department-mappings/", include("departments.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
