"""The WebSub hub's HTTP endpoint: subscribers POST their (un)subscription requests here.

The request is checked at once (a bad field is a 4xx naming it) and answered 202; the hub then
verifies the subscriber's intent with its callback and only then (un)subscribes
(`warta.routing.websub`)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.background import BackgroundTask

from warta.routing import websub
from warta.web.deps import get_settings, get_store, unit_of_work

router = APIRouter()


@router.post("/websub", status_code=202, response_class=Response, include_in_schema=False)
async def hub(request: Request) -> Response:
    settings = get_settings(request)
    wanted = websub.parse_request(settings, await request.body())
    with unit_of_work(request) as s:
        websub.check_topic(s, wanted)
    verify = BackgroundTask(websub.verify_and_apply, get_store(request), settings, wanted)
    return Response(
        "verifying intent with the callback\n", status_code=202, media_type="text/plain", background=verify
    )
