#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys

# Commands that only read models and write files: they sign nothing, so they need no
# SECRET_KEY (production settings refuse to start without one).
_KEYLESS_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate"}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accountsync.settings")
    if sys.argv[1:2] and sys.argv[1] in _KEYLESS_COMMANDS:
        os.environ.setdefault("SECRET_KEY", "unused-by-" + sys.argv[1])
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
