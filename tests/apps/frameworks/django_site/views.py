"""A plain view, and a form whose POST needs the CSRF token its GET handed out."""

from __future__ import annotations

import html

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Hello, Django!", content_type="text/plain")


def form(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return JsonResponse({"name": request.POST.get("name", "")})
    token = html.escape(get_token(request))
    return HttpResponse(
        '<form method="post" action="/form/">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
        '<input name="name"></form>'
    )
