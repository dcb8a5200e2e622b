"""Settings of the mounted Django project: nothing written to disk, no database."""

_PACKAGE = __name__.rpartition(".")[0]

SECRET_KEY = "dualweb-tests-only-not-secret"  # a test project
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
ROOT_URLCONF = f"{_PACKAGE}.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Sets Content-Length on whole responses, as in most projects.
    "django.middleware.common.CommonMiddleware",
]
# Sessions in signed cookies: no database, no files.
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
# Uploads stay in memory up to this size; larger ones would go to a temporary file.
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
LOGGING_CONFIG = None
