"""Webhook receivers for the outbound tests: real aiohttp servers on 127.0.0.1 that record what arrives.

Each receiver answers by a `behaviour` the test can change while it runs
(up, down, slow, 429/503 with Retry-After, redirecting), and keeps every
request with its arrival time, so a test can check order, gaps and spacing.
"""
from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
from aiohttp import web
from standardwebhooks.webhooks import Webhook


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


@dataclass
class Received:
    at: float  # monotonic arrival time
    headers: dict[str, str]
    body: bytes
    status: int | None = None  # what the receiver answered (None: not yet, or never)

    @property
    def event(self) -> dict:
        return orjson.loads(self.body)


Behaviour = Callable[["Receiver", web.Request], Awaitable[web.StreamResponse]]


async def ok(receiver: "Receiver", request: web.Request) -> web.StreamResponse:
    return web.Response(status=204)


def status(code: int, retry_after: str | None = None) -> Behaviour:
    async def answer(receiver: "Receiver", request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, headers={"Retry-After": retry_after} if retry_after else {})
    return answer


def slow(seconds: float) -> Behaviour:
    async def answer(receiver: "Receiver", request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(status=200)
    return answer


def redirect(location: str) -> Behaviour:
    async def answer(receiver: "Receiver", request: web.Request) -> web.StreamResponse:
        return web.Response(status=307, headers={"Location": location})
    return answer


@dataclass
class Receiver:
    behaviour: Behaviour = ok
    received: list[Received] = field(default_factory=list)  # every request, answered or not
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self, port: int = 0) -> "Receiver":
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port or self.port or 0, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        """Down: connections to the port are refused until `start` again."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        record = Received(time.monotonic(), dict(request.headers), await request.read())
        self.received.append(record)
        response = await self.behaviour(self, request)
        record.status = response.status
        return response

    def delivered_ids(self) -> list[str]:
        """webhook-ids of the requests in arrival order (a retried event appears once per attempt)."""
        return [r.headers["webhook-id"] for r in self.received]

    def accepted(self) -> list[Received]:
        """The requests answered 2xx, in arrival order."""
        return [r for r in self.received if r.status is not None and 200 <= r.status < 300]

    def verified_events(self, secret: str) -> list[dict]:
        """Every body as the reference verifier returns it (raises if any signature is wrong)."""
        hook = Webhook(secret)
        return [hook.verify(r.body, r.headers) for r in self.received]

    async def wait_for(self, check: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout} s: {what} ({len(self.received)} requests received)")
            await asyncio.sleep(0.02)
