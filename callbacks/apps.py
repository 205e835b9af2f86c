from django.apps import AppConfig


class CallbacksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "callbacks"
    verbose_name = "完成回调 Completion callbacks"
