from django.contrib import admin
from django.urls import include, path

from account_creation.ops.views import metrics_view
from accountsync.api_docs import ApiSchemaView, SwaggerUIView
from accountsync.health import healthz
from accountsync.home import favicon, home

urlpatterns = [
    path("", home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    # The status dashboard lives inside the admin's URL space (staff only, admin look).
    path("admin/status/", include("account_creation.ops.urls")),
    path("admin/", admin.site.urls),
    path("account-creation/", include("account_creation.api.urls")),
    path("department-mappings/", include("departments.api.urls")),
    # The document needs a token unless API_DOCS_PUBLIC; the Swagger UI page is always served.
    path("api/schema/", ApiSchemaView.as_view(), name="schema"),
    path("api/docs/", SwaggerUIView.as_view(url_name="schema"), name="swagger-ui"),
]
