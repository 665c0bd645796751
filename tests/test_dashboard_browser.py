"""The dashboard in a real headless browser (Debian's chromium, driven by Playwright; never a
browser Playwright downloads): the live map, acting on an escalation, what a role without the
right sees, and that the page asks nothing of the outside world. Screenshots go to
``tests/artifacts/`` (git-ignored; the run's summary names the directory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, async_playwright, expect

from services.bootstrap import Service
from services.settings import Settings
from tests.api_helpers import (
    AREA,
    NETWORK,
    bearer,
    client_for,
    seed_network,
    signal_body,
    token_for,
)
from tests.conftest import eventually, serve_in_background

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parent / "artifacts"
LOCAL = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail("install Debian's chromium: apt-get install -y chromium chromium-driver")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        # --no-sandbox: CI containers run as root, where chromium's sandbox cannot start.
        b = await p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        yield b
        await b.close()


@pytest.fixture
async def dashboard(settings: Settings) -> AsyncIterator[Service]:
    async with serve_in_background(settings.model_copy(update={"demo_login": True})) as svc:
        yield svc


class Offline:
    """A page whose every request to anything but this machine is aborted and recorded."""

    def __init__(self) -> None:
        self.outside: list[str] = []

    async def route(self, route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith("data:") or host in LOCAL:
            await route.continue_()
        else:
            self.outside.append(route.request.url)
            await route.abort()


async def open_page(
    browser: Browser, service: Service, width: int = 1280, height: int = 800
) -> tuple[Page, Offline]:
    context = await browser.new_context(viewport={"width": width, "height": height})
    offline = Offline()
    await context.route("**/*", offline.route)
    page = await context.new_page()
    await page.goto(service.http_url + "/")
    return page, offline


async def log_in_as_demo(page: Page, role: str) -> None:
    await page.get_by_role("button", name={"crisis": "crisisorganisatie"}.get(role, role)).click()
    await expect(page.locator("#status")).to_have_class("status status-live", timeout=10_000)


async def log_in_with_token(page: Page, service: Service, actor: str) -> None:
    await page.locator("#token").fill(token_for(service, actor))
    await page.locator("form.token-login button[type=submit]").click()
    await expect(page.locator("#status")).to_have_class("status status-live", timeout=10_000)


async def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def test_a_signal_changes_its_areas_colour_on_the_open_page(
    browser: Browser, dashboard: Service
) -> None:
    async with client_for(dashboard) as client:
        await seed_network(client, dashboard)
        page, _ = await open_page(browser, dashboard)
        await log_in_as_demo(page, "crisis")
        area = page.locator(f'path[data-area="{AREA}"]')
        await expect(area).to_have_attribute("data-band", "normal")
        for reporter in ("a1", "a2"):
            body = signal_body(reporter=reporter, level=5, evidence="observed")
            r = await client.post("/api/v1/signals", json=body)
            assert r.status_code == 201, r.text
        # Within 2 s of the last submission, without a reload.
        await expect(area).not_to_have_attribute("data-band", "normal", timeout=2_000)
        view = (await client.get(f"/api/v1/tension-map?area={AREA}")).json()
        band = max(view["cells"], key=lambda c: c["score"])["band"]
        await expect(area).to_have_attribute("data-band", band)
        await expect(page.locator("#feed-body li")).to_have_count(2)
        await screenshot(page, "map-after-signal")


async def test_acknowledging_on_the_page_changes_the_state_for_an_api_client(
    browser: Browser, dashboard: Service
) -> None:
    async with client_for(dashboard) as client:
        await seed_network(client, dashboard)
        r = await client.post(
            "/api/v1/escalations",
            json={"area": AREA, "theme": "demonstration", "reason": "declared by a test"},
            headers={"X-Actor": "police:meldkamer-test"},
        )
        assert r.status_code == 201, r.text
        escalation_id = r.json()["escalation_id"]
        page, _ = await open_page(browser, dashboard, 1024, 768)
        await log_in_as_demo(page, "crisis")
        card = page.locator(f'article[data-escalation="{escalation_id}"]')
        await expect(card).to_have_attribute("data-status", "alerted")
        await expect(card).to_contain_text("OOV (ronde 1)")  # who was alerted, as the policy says
        await expect(card.locator(".countdown")).to_contain_text(":")  # 60 min: minutes:seconds
        await screenshot(page, "escalation-alerted-1024x768")
        button = card.locator("button.act-acknowledge")
        await button.focus()
        await page.keyboard.press("Enter")  # keyboard-usable: a real button

        async def acknowledged() -> bool:
            r = await client.get(f"/api/v1/escalations/{escalation_id}")
            return bool(r.json()["status"] == "acknowledged")

        await eventually(acknowledged, what="the API sees the acknowledgement")
        await expect(card).to_have_attribute("data-status", "acknowledged")
        await expect(card.locator("button.act-acknowledge")).to_have_count(0)

        # The call list for the escalation, with a one-click call outcome.
        await card.locator("button.act-calls").click()
        ally = page.locator('#calls-body tr[data-ally="a1"]')
        await ally.locator('button[data-outcome="reached"]').click()

        async def called() -> bool:
            r = await client.get(f"/api/v1/call-lists?area={AREA}&themes=demonstration")
            entry = next(e for e in r.json()["entries"] if e["ally_id"] == "a1")
            return bool(entry["last_call"] and entry["last_call"]["outcome"] == "reached")

        await eventually(called, what="the API sees the call outcome")
        await expect(ally).to_contain_text("bereikt")
        await screenshot(page, "escalation-acknowledged")


async def test_a_role_without_the_right_sees_no_acknowledge_button_and_is_refused(
    browser: Browser, dashboard: Service
) -> None:
    async with client_for(dashboard) as client:
        await seed_network(client, dashboard)
        r = await client.post(
            "/api/v1/escalations",
            json={"area": AREA, "theme": "demonstration", "reason": "declared by a test"},
            headers={"X-Actor": "police:meldkamer-test"},
        )
        escalation_id = r.json()["escalation_id"]
    coordinator = token_for(dashboard, "coordinator:netwerk-test")
    page, _ = await open_page(browser, dashboard)
    await page.locator("#token").fill(coordinator)
    await page.locator("form.token-login button[type=submit]").click()
    card = page.locator(f'article[data-escalation="{escalation_id}"]')
    await expect(card).to_have_attribute("data-status", "alerted")
    # The card shows the actions the coordinator has (calling a convening), not acknowledging.
    await expect(card.locator("button.act-convenings")).to_have_count(1)
    await expect(card.locator("button.act-acknowledge")).to_have_count(0)
    await screenshot(page, "coordinator-without-acknowledge")
    async with httpx.AsyncClient(base_url=dashboard.http_url, timeout=10) as api:
        refused = await api.post(
            f"/api/v1/escalations/{escalation_id}/acknowledge",
            json={},
            headers={"Authorization": f"Bearer {coordinator}"},
        )
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["code"] == "forbidden"
        r = await api.get(
            f"/api/v1/escalations/{escalation_id}", headers=bearer(dashboard, "crisis:check")
        )
        assert r.json()["status"] == "alerted"


async def test_the_page_works_with_the_outside_network_blocked_and_asks_nothing_of_it(
    browser: Browser, dashboard: Service
) -> None:
    page, offline = await open_page(browser, dashboard)
    await log_in_as_demo(page, "crisis")
    await expect(page.locator("svg.map path.outline")).not_to_have_count(0)
    await expect(page.locator("svg.map path[data-area]")).not_to_have_count(0)
    await page.emulate_media(media="print")
    await screenshot(page, "print")
    assert offline.outside == []


async def test_a_pulse_summary_and_an_open_question_appear_and_only_who_may_answers(
    browser: Browser, dashboard: Service
) -> None:
    async with client_for(dashboard) as client:
        await seed_network(client, dashboard)  # a1: moroccan, youth; a2: surinamese
        deadline = datetime.now(UTC) + timedelta(hours=1)
        r = await client.post(
            "/api/v1/pulses",
            json={
                "pulse_id": "p-coup",
                "area": AREA,
                "theme": "polarisation",
                "question": "Hoe is de stemming na de berichten over Turkije?",
                "deadline": deadline.isoformat(),
                "communities": ["moroccan"],
            },
            headers={"X-Actor": "police:wijkagent-test"},
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            "/api/v1/pulses/p-coup/answers",
            json={"ally_id": "a1", "level": 4, "advice": "Ga in gesprek bij de moskee"},
            headers={"X-Actor": "ally:a1"},
        )
        assert r.status_code == 201, r.text
        r = await client.post(
            "/api/v1/questions",
            json={
                "question_id": "q-1",
                "network_id": NETWORK,
                "ally_id": "a1",
                "text": "Komt er extra politie bij de moskee?",
                "routed_to": "municipality",
            },
            headers={"X-Actor": "ally:a1"},
        )
        assert r.status_code == 201, r.text

        page, _ = await open_page(browser, dashboard)
        await log_in_with_token(page, dashboard, "municipality:oov-test")  # answers, asks
        pulse = page.locator('article[data-pulse="p-coup"]')
        await expect(pulse.locator('[data-field="answered"]')).to_have_text("1 van 1")
        await expect(pulse.locator('li[data-level="4"]')).to_contain_text("niveau 4: 1")
        await expect(pulse).to_contain_text("Ga in gesprek bij de moskee")
        question = page.locator('li[data-question="q-1"]')
        await expect(question).to_have_attribute("data-stage", "open")
        await expect(question).to_contain_text("Komt er extra politie bij de moskee?")
        await expect(question.locator(".q-age")).to_contain_text("oud")
        await expect(page.locator('#pulse-form button[type="submit"]')).to_have_count(1)
        # The network panel names its health flags with their Dutch reasons.
        network = page.locator(f'article[data-network="{NETWORK}"]')
        await expect(network.locator("li[data-flag]")).not_to_have_count(0)
        await screenshot(page, "pulse-and-question")

        # Answered on the page, by keyboard: the API sees it; the relay is next.
        await question.locator("button.q-answer").focus()
        await page.keyboard.press("Enter")
        await page.keyboard.type("Ja, vanavond rijdt er een extra surveillance.")
        await question.locator('form.inline-form button[type="submit"]').click()

        async def answered() -> bool:
            q = (await client.get("/api/v1/questions/q-1")).json()
            return bool(q["answer"] == "Ja, vanavond rijdt er een extra surveillance.")

        await eventually(answered, what="the API sees the answer")
        await expect(question).to_have_attribute("data-stage", "answered")
        await expect(question.locator("button.q-relay")).to_have_count(1)

        r = await client.post(
            "/api/v1/questions",
            json={
                "question_id": "q-2",
                "network_id": NETWORK,
                "ally_id": "a2",
                "text": "Wanneer is de volgende bijeenkomst?",
                "routed_to": "police",
            },
            headers={"X-Actor": "ally:a2"},
        )
        assert r.status_code == 201, r.text

    # The coordinator may relay answers back but not answer: no answer button, and no form
    # to start a pulse.
    page, _ = await open_page(browser, dashboard)
    await log_in_with_token(page, dashboard, "coordinator:netwerk-test")
    open_question = page.locator('li[data-question="q-2"]')
    await expect(open_question).to_have_attribute("data-stage", "open")
    await expect(open_question.locator("button.q-answer")).to_have_count(0)
    await expect(page.locator('li[data-question="q-1"] button.q-relay')).to_have_count(1)
    await expect(page.locator('article[data-pulse="p-coup"]')).to_be_visible()
    await expect(page.locator("#pulse-form")).to_have_count(0)
    await screenshot(page, "coordinator-questions")
