"""The mounted Django project's views: the same pages as the tests' Flask and Starlette apps."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.middleware.csrf import get_token
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

#: GET /stream: this many chunks of this many bytes (several reads of a server's buffer).
STREAM_CHUNKS = 5
STREAM_CHUNK_SIZE = 20_000


def stream_chunk(index: int) -> bytes:
    """Chunk ``index`` of every app's /stream (tests compare with it)."""
    head = f"{index}:".encode()
    return head + b"x" * (STREAM_CHUNK_SIZE - len(head) - 1) + b"\n"


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("django index", content_type="text/plain")


def hello(request: HttpRequest, name: str) -> HttpResponse:
    return HttpResponse(f"hello {name}", content_type="text/plain")


def urls(request: HttpRequest) -> JsonResponse:
    """Where Django thinks it is: reverse() and absolute URLs include the mount's prefix."""
    return JsonResponse(
        {
            "hello": reverse("hello", args=["x"]),
            "absolute": request.build_absolute_uri(reverse("hello", args=["x"])),
            "prefix": request.META["SCRIPT_NAME"],
            "inner": request.path_info,
            "query": request.GET.getlist("q"),
        }
    )


def go(request: HttpRequest) -> HttpResponseRedirect:
    return redirect("hello", name="there")


@csrf_exempt
def new(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"django new ({request.method})", content_type="text/plain")


@csrf_exempt
def form(request: HttpRequest) -> JsonResponse:
    return JsonResponse({name: request.POST.getlist(name) for name in request.POST})


@csrf_exempt
def json_echo(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"received": json.loads(request.body)})


@csrf_exempt
def upload(request: HttpRequest) -> JsonResponse:
    upload = request.FILES["file"]
    data = upload.read()
    return JsonResponse(
        {
            "note": request.POST["note"],
            "filename": upload.name,
            "content_type": upload.content_type,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    )


def cookies(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("cookies set", content_type="text/plain")
    response.set_cookie("a", "1")
    response.set_cookie("b", "2", httponly=True)
    response.set_cookie("c", "3", path="/django")
    return response


def echo_cookies(request: HttpRequest) -> JsonResponse:
    return JsonResponse(dict(request.COOKIES))


def stream(request: HttpRequest) -> StreamingHttpResponse:
    def chunks() -> Iterator[bytes]:
        for number in range(STREAM_CHUNKS):
            yield stream_chunk(number)

    return StreamingHttpResponse(chunks(), content_type="text/plain")


def csrf(request: HttpRequest) -> HttpResponse:
    """GET: a CSRF token (and its cookie); POST: accepted only with the token."""
    if request.method == "POST":
        return HttpResponse(f"accepted {request.POST['text']}", content_type="text/plain")
    return JsonResponse({"token": get_token(request)})


def count(request: HttpRequest) -> JsonResponse:
    """A counter in Django's session (a signed cookie)."""
    request.session["count"] = request.session.get("count", 0) + 1
    return JsonResponse({"count": request.session["count"]})
