"""The mounted Django project's URLs (without trailing slashes, like the other apps')."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("hello/<str:name>", views.hello, name="hello"),
    path("urls", views.urls, name="urls"),
    path("go", views.go, name="go"),
    path("new", views.new, name="new"),
    path("form", views.form, name="form"),
    path("json", views.json_echo, name="json"),
    path("upload", views.upload, name="upload"),
    path("cookies", views.cookies, name="cookies"),
    path("echo-cookies", views.echo_cookies, name="echo-cookies"),
    path("stream", views.stream, name="stream"),
    path("csrf", views.csrf, name="csrf"),
    path("count", views.count, name="count"),
]
