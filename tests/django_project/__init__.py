"""A minimal Django project, mounted in dualweb Apps by the mount tests.

No database: sessions live in signed cookies. Its module names are relative
to the package, so it works imported as ``django_project`` (the tests'
directory is on ``sys.path`` under pytest) and as ``tests.django_project``
(a server started from the project root); ``wsgi.py`` gives the handler.
"""
