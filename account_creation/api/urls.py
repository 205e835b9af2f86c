from rest_framework.routers import SimpleRouter

from account_creation.api.request_views import AccountCreationRequestViewSet
from account_creation.api.views import AccountCreationTaskViewSet

router = SimpleRouter()
# Before the tasks: /account-creation/requests/ is not a task id (task ids are digits anyway).
router.register("requests", AccountCreationRequestViewSet, basename="account-creation-request")
router.register("", AccountCreationTaskViewSet, basename="account-creation")
urlpatterns = router.urls
