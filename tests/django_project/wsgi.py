"""The Django project's WSGI handler: ``application``.

Django's settings are process-global; whoever imports this first in a
process configures Django (with $DJANGO_SETTINGS_MODULE, defaulting to this
project's settings).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", f"{__package__}.settings")
application = get_wsgi_application()
