"""The CS console in a real headless browser: Debian's chromium driven by Playwright.

The service runs with the real pipeline (webhooks in, normalizer, actions
stage); the test signs in, filters, opens an escalation with its shipment
timeline and the customer behind it, is refused an action without the agent's
name, sees the inputs cleared when it picks another case, acknowledges, and
checks the screen: a screenshot's pixels where the severity badges are, that
nothing scrolls sideways at 1366 and 390 px (phone width), and what the API
says afterwards. CARRIER_EVENTS_TEST_SHOTS=<dir> keeps the screenshots. Without chromium
the test skips, except under CI=true, where `.ci/run` installs it and a
missing browser is a failure.
"""
from __future__ import annotations

import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from service.app import create_app
from service.config import SOURCES, Settings
from service.keys import ACTIONS, STORE
from tests.test_actions import ARRIVED, CS, TN, WEATHER, escalations, post, register, scan, ups

CHROMIUM = os.environ.get("CARRIER_EVENTS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-extensions", "--no-first-run"]
# After ARRIVED (scans dated relative to now, see tests.test_actions), so it is the newest of its shipment
HOSTILE = scan("X", "AJ", '<img src=x onerror="document.title=\'pwned\'">Merchandise is missing.', 30)
DAMAGED = scan("X", "45", "Your package was damaged in transit. We will notify the sender with details.", 30)
TN2, TN3 = "1Z999AA10123456795", "1Z999AA10123456800"


def _browser_or_skip() -> str:
    if Path(CHROMIUM).exists():
        try:
            import playwright.async_api  # noqa: F401
            return CHROMIUM
        except ImportError as exc:
            reason = f"playwright is not installed ({exc})"
    else:
        reason = f"no chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} and CI=true")
    pytest.skip(reason)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB(A) rows of an 8-bit PNG (what Chromium writes), without an imaging library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color = header[0], header[1], header[2], header[3]
    assert depth == 8 and color in (2, 6)
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - bpp] if x >= bpp else 0
            up, corner = prev[x], prev[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, [bytes(b for i, b in enumerate(r) if bpp == 3 or i % 4 != 3) for r in rows]


def share_of(png: bytes, rgb: tuple[int, int, int], tolerance: int = 12) -> float:
    """The share of pixels within `tolerance` of a colour."""
    width, height, rows = png_pixels(png)
    hits = sum(1 for row in rows for i in range(0, len(row), 3)
               if all(abs(row[i + k] - rgb[k]) <= tolerance for k in range(3)))
    return hits / (width * height)


@pytest.fixture
async def console(aiohttp_server, tmp_path):
    settings = Settings(db=str(tmp_path / "c.db"), open_sources=frozenset(SOURCES), cs_token="cs-token",
                        api_token="api-token", notify_file=str(tmp_path / "n.jsonl"))
    server = await aiohttp_server(create_app(settings))
    client = _Client(server)
    for tn in (TN, TN2, TN3):
        await register(client, tn)
    await post(client, ups(TN, [ARRIVED, HOSTILE]))  # lost: high, cs_claims
    await post(client, ups(TN2, [ARRIVED, WEATHER]))  # weather: low, waiting
    await post(client, ups(TN3, [ARRIVED, DAMAGED]))  # damaged: high, then past its SLA -> critical
    store = server.app[STORE]
    await store._write(lambda conn: conn.execute(
        "UPDATE escalations SET sla_due_at = '2020-01-01T00:00:00Z' WHERE tracking_number = ?", (TN3,)))
    await server.app[ACTIONS].promote_and_breach()
    yield server, client


class _Client:
    """The bits of aiohttp's TestClient the shared helpers use, over a plain session to the live server."""

    def __init__(self, server) -> None:
        import aiohttp

        self.server, self.app = server, server.app
        self._session = aiohttp.ClientSession(base_url=str(server.make_url("/")))

    def post(self, path: str, **kwargs):
        return self._session.post(path, **kwargs)

    def get(self, path: str, **kwargs):
        return self._session.get(path, **kwargs)

    async def close(self) -> None:
        await self._session.close()


async def test_the_console_lists_filters_shows_a_timeline_and_acknowledges(console, tmp_path):
    executable = _browser_or_skip()
    from playwright.async_api import async_playwright, expect

    server, client = console
    base = str(server.make_url("/console"))
    [lost] = await escalations(client, exception_class="lost")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=executable, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1366, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(base)

        # a wrong token is refused and the sign-in form comes back with the reason
        await page.fill("#token", "wrong")
        await page.click("#signin")
        await expect(page.locator("#login-error")).to_have_text("The token was refused.")
        await page.fill("#token", "cs-token")
        await page.click("#signin")

        # active escalations, most urgent first: the breached one (now critical), then high, then low
        rows = page.locator("#rows tr")
        await expect(rows).to_have_count(3)
        assert [await r.get_attribute("data-severity") for r in await rows.all()] == ["critical", "high", "low"]
        await expect(rows.nth(0).locator("td").nth(6)).to_contain_text("breached")
        await expect(page.locator("#summary")).to_have_text("3 shown · 1 past SLA")
        shot = tmp_path / "console-list.png"
        await page.screenshot(path=str(shot))
        png = shot.read_bytes()
        assert share_of(png, (0xB0, 0x00, 0x20)) > 0.0003  # the critical badge is on screen, in its colour
        assert share_of(png, (0xD9, 0x48, 0x0F)) > 0.0003  # and the high one

        # filter: only high
        await page.select_option("#filter-severity", "high")
        await expect(rows).to_have_count(1)
        await expect(rows.nth(0)).to_contain_text(TN)

        # open it: facts, the shipment timeline (carrier text shown as text, not HTML), the audit trail
        await rows.nth(0).click()
        await expect(page.locator("#detail-title")).to_contain_text(f"lost · ups {TN}")
        timeline = page.locator("#timeline li")
        await expect(timeline).to_have_count(2)
        await expect(timeline.nth(0)).to_contain_text('<img src=x onerror="document.title=\'pwned\'">')
        assert await page.locator("#timeline img").count() == 0 and await page.title() != "pwned"
        await expect(page.locator("#audit li")).to_have_count(1)
        await expect(page.locator("#ack")).to_be_enabled()

        # the customer behind the case: order, name, email, the carrier's page, the messages sent
        customer = page.locator("#customer")
        for text in ("SO-7", "Ada Lovelace", "ada@example.com"):
            await expect(customer).to_contain_text(text)
        assert TN in await customer.locator("a").get_attribute("href")
        await expect(page.locator("#notifications li")).to_have_count(max(1, len(lost["notifications"])))

        # no action without the agent's name: refused on the page, nothing sent
        await page.fill("#note", "called the customer")
        await page.click("#ack")
        await expect(page.locator("#action-error")).to_contain_text("Enter your name first")
        await expect(page.locator("#detail")).to_have_attribute("data-state", "open")
        await page.click("#assign")
        await expect(page.locator("#action-error")).to_contain_text("Enter your name first")
        assert len((await (await client.get(f"/v1/escalations/{lost['id']}", headers=CS)).json())["audit"]) == 1

        # another case clears what was typed for this one (the agent's own name stays)
        await page.fill("#actor", "grace")
        await page.fill("#assignee", "linus")
        await page.select_option("#filter-severity", "")
        await expect(rows).to_have_count(3)
        await rows.filter(has_text=TN2).click()
        await expect(page.locator("#detail-title")).to_contain_text(TN2)
        for field in ("#note", "#assignee"):
            await expect(page.locator(field)).to_have_value("")
        await expect(page.locator("#action-error")).to_have_text("")
        await expect(page.locator("#actor")).to_have_value("grace")
        await expect(page.locator("#notifications li").first).to_contain_text("delay")
        await rows.filter(has_text=TN).click()
        await expect(page.locator("#detail-title")).to_contain_text(f"lost · ups {TN}")

        # acknowledge as grace
        await page.click("#ack")
        await expect(page.locator("#detail")).to_have_attribute("data-state", "acknowledged")
        await expect(page.locator("#audit li").nth(1)).to_contain_text("acknowledged by grace")
        await expect(page.locator("#ack")).to_be_disabled()
        await expect(rows.filter(has_text=TN).locator("td").nth(5)).to_have_text("acknowledged")
        await page.screenshot(path=str(shots_dir(tmp_path) / "console-1366.png"), full_page=True)
        assert await fits(page, 1366)
        assert errors == []

        # phone width: one column, nothing wider than the screen, the actions reachable
        phone = await browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1)
        phone.on("pageerror", lambda exc: errors.append(str(exc)))
        await phone.goto(base)
        await phone.fill("#token", "cs-token")
        await phone.click("#signin")
        await expect(phone.locator("#rows tr")).to_have_count(3)
        await phone.screenshot(path=str(shots_dir(tmp_path) / "console-390-list.png"), full_page=True)
        assert await fits(phone, 390)
        await phone.locator("#rows tr").filter(has_text=TN2).click()
        await expect(phone.locator("#detail-title")).to_contain_text(TN2)
        await phone.screenshot(path=str(shots_dir(tmp_path) / "console-390-detail.png"), full_page=True)
        assert await fits(phone, 390)
        for control in ("#actor", "#note", "#ack", "#resolve", "#assignee", "#assign"):
            box = await phone.locator(control).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (control, box)
        await phone.click("#resolve")  # a new tab: no name typed yet
        await expect(phone.locator("#action-error")).to_contain_text("Enter your name first")
        await phone.fill("#actor", "ada")
        await phone.click("#resolve")
        await expect(phone.locator("#detail")).to_have_attribute("data-state", "resolved")
        assert errors == []
        await browser.close()

    detail = await (await client.get(f"/v1/escalations/{lost['id']}", headers=CS)).json()
    assert detail["state"] == "acknowledged" and detail["audit"][-1]["actor"] == "grace"
    assert [e["actor"] for e in detail["audit"][1:]] == ["grace"]  # the refused clicks sent nothing
    [weather] = await escalations(client, tracking_number=TN2)
    assert weather["state"] == "resolved"
    resolved = await (await client.get(f"/v1/escalations/{weather['id']}", headers=CS)).json()
    assert resolved["audit"][-1]["actor"] == "ada"
    await client.close()


def shots_dir(tmp_path: Path) -> Path:
    """Where screenshots go: CARRIER_EVENTS_TEST_SHOTS (to look at them) or the test's temporary directory."""
    folder = Path(os.environ.get("CARRIER_EVENTS_TEST_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def fits(page, width: int) -> bool:
    """Nothing makes the page scroll sideways (the list table scrolls inside its own box if it must)."""
    return await page.evaluate("() => document.documentElement.scrollWidth") <= width


async def test_the_console_page_is_static_and_locked_down(aiohttp_client, tmp_path):
    client = await aiohttp_client(create_app(Settings(db=str(tmp_path / "d.db"), open_sources=frozenset(SOURCES))))
    page = await client.get("/console")
    assert page.status == 200 and page.content_type == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert (await client.get("/console/console.js")).content_type == "text/javascript"
    assert (await client.get("/console/../app.py")).status == 404
    assert (await client.get("/console/secrets.txt")).status == 404
    # the data behind it needs the token: with none configured, escalations are disabled, not open
    assert (await client.get("/v1/escalations")).status in (401, 403, 503)
