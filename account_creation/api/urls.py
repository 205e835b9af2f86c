from rest_framework.routers import SimpleRouter

from account_creation.api.views import AccountCreationTaskViewSet

router = SimpleRouter()
router.register("", AccountCreationTaskViewSet, basename="account-creation")
urlpatterns = router.urls
