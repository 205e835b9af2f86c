from rest_framework.routers import SimpleRouter

from account_creation.api.request_views import AccountCreationRequestViewSet
from account_creation.api.systems import DownstreamSystemViewSet
from account_creation.api.views import AccountCreationTaskViewSet

router = SimpleRouter()
# Before the tasks: their detail route (/{id}/) would otherwise take "requests/" and "systems/".
router.register("requests", AccountCreationRequestViewSet, basename="account-creation-request")
router.register("systems", DownstreamSystemViewSet, basename="account-creation-systems")
router.register("", AccountCreationTaskViewSet, basename="account-creation")
urlpatterns = router.urls
