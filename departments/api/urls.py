from rest_framework.routers import SimpleRouter

from departments.api.views import DepartmentMappingViewSet

router = SimpleRouter()
router.register("", DepartmentMappingViewSet, basename="department-mapping")
urlpatterns = router.urls
