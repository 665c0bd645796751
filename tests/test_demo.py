"""The demo of the README's main command plays end to end against a real server, through the
service's public HTTP API only, and plays again on the same store after clients changed it."""

from __future__ import annotations

import ast
import functools
import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.adapters.jetstream.embedded import free_port
from services.bootstrap import Service
from services.demo import data, play_demo
from services.settings import DEMO_POLICY, Settings
from services.texts_nl.console import SENTENCES
from tests.api_helpers import READER, acting, bearer
from tests.conftest import serve_in_background

ROOT = Path(__file__).resolve().parents[1]
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
HEADER = re.compile(r"^== (.+) ==$")
TIME = re.compile(r"\b\d\d:\d\d\b")
LABEL = "(Nederlandse tijd)"
OOV = {"X-Actor": data.OOV}
POLICE = {"X-Actor": data.TEAMCHEF}


@pytest.fixture
def demo_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The demo policy with a 1 s first acknowledgement timeout instead of 10 s."""
    fast = tmp_path / "demo-policy.toml"
    policy = DEMO_POLICY.read_text(encoding="utf-8")
    fast.write_text(policy.replace("ack_timeout_s = 10", "ack_timeout_s = 1"), encoding="utf-8")
    return settings.model_copy(update={"escalation_policy": fast, "cap_status": "Exercise"})


async def play(svc: Service | str) -> str:
    """The demo against ``svc``, with tokens of its built-in issuer (as the CLI hands them);
    a URL alone: a service that is not there."""
    out = io.StringIO()
    if isinstance(svc, str):

        async def nobody(actor: str) -> str:
            return "no-token"

        await play_demo(svc, nobody, out=out)
    else:
        tokens = functools.partial(svc.token_for, ttl=timedelta(hours=1), origin="test")
        await play_demo(svc.http_url, tokens, out=out)
    return out.getvalue()


async def get(svc: Service, path: str, **params: str) -> Any:
    async with httpx.AsyncClient(base_url=svc.http_url) as client:
        response = await client.get(f"/api/v1{path}", params=params, headers=bearer(svc, READER))
        response.raise_for_status()
        return response.json()


def open_follow_up(escalations: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [e for e in escalations if e["area"] == data.POORT and e["status"] != "closed"]
    return found


def link_to_open(story: str, console: str) -> str:
    """The personal link the story tells the reader to open: the last one printed for the
    ally it names (a replay prints new invitations for the same allies)."""
    (ally,) = re.findall(r"de link achter \[UITNODIGING aan ([\w-]+)\]", story)
    links = re.findall(rf"\[UITNODIGING aan {ally}\] .* via (http\S+)", console)
    assert links, console
    return str(links[-1])


def assert_every_header_has_content(story: str) -> None:
    lines = story.splitlines()
    for i, line in enumerate(lines):
        if HEADER.match(line):
            following = next((x for x in lines[i + 1 :] if x.strip()), "")
            assert following and not HEADER.match(following), f"empty section: {line}"


def assert_times_are_labelled_local(story: str, before: datetime, after: datetime) -> None:
    """Every time is named Dutch local time, on its line or under a line that says so."""
    labelled_block = False
    for line in story.splitlines():
        if HEADER.match(line):
            labelled_block = False
        if "tijden in Nederlandse tijd" in line:
            labelled_block = True
        if TIME.search(line):
            assert LABEL in line or labelled_block, line
    titles = re.findall(
        r"Spanningsbeeld GM0034 op (\d\d-\d\d-\d{4} \d\d:\d\d) \(Nederlandse", story
    )
    assert titles
    # Shown in Dutch local time (UTC would lie an hour or two earlier): within the play.
    shown = datetime.strptime(titles[0], "%d-%m-%Y %H:%M").replace(tzinfo=AMSTERDAM)
    assert before.replace(second=0, microsecond=0) <= shown <= after, (titles[0], before)


async def test_demo_plays_one_escalation_end_to_end(
    demo_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serve_in_background(demo_settings) as svc:
        before = datetime.now(AMSTERDAM)
        story = await play(svc)
        after = datetime.now(AMSTERDAM)
        console = capsys.readouterr().out
        escalations = await get(svc, "/escalations")

    assert "Dekkingsgat: niemand op de lijst vertegenwoordigt Turkse gemeenschap." in story
    assert "dienstdoend politie" in story and "Geweigerd" not in story
    assert "Aan: Teamchef politie basisteam" in console  # the ladder climbed
    assert "Niveau 2 (ronde 1) gealarmeerd op" in story
    assert "nog niet voltallig" in story and "; voltallig" in story
    assert "Afgeschaald op" in story and "Afgesloten op" in story
    # The narrative follows the map: hot now, falling only in the forecast hours on.
    assert re.search(r"van nu: demonstratie in GM0034-stad is kritiek, stijgend", story)
    forecast = story.split("als er tot dan geen nieuwe meldingen komen")[1]
    assert re.search(r"GM0034-stad +demonstratie +\w+ +dalend", forecast)
    assert_every_header_has_content(story)
    assert_times_are_labelled_local(story, before, after)
    assert story.rstrip().endswith(SENTENCES["demo_ready"].strip())

    (stad,) = [e for e in escalations if e["area"] == data.STAD]
    assert stad["status"] == "closed" and stad["acknowledged_by"] == data.TEAMCHEF
    follow_up = open_follow_up(escalations)
    (pending,) = follow_up["convenings"].values()
    assert pending["convened_at"] is None and pending["cancelled_at"] is None
    assert "[UITNODIGING aan a-stad-1]" in console and "[UITNODIGING aan a-poort-1]" in console
    # Sounding out the Turkish community's allies (issue 12): exactly them, one answer late,
    # their advice; a question's three moments; a mobilisation accepted and reported on.
    assert "Peiling uitgezet bij 2 bondgenoten: Yusuf Demir en Ahmed Yilmaz." in story
    assert "[PEILING aan a-poort-1]" in console and "[PEILING aan a-stad-1]" not in console
    assert "2 van 2 geantwoord; spreiding per niveau 3: 1, 4: 1; gemiddeld 3,5." in story
    assert "(vastgelegd als te laat): Ahmed Yilmaz." in story
    assert "Handelingskader opgesteld" in story
    moments = story.split("De drie momenten:")[1].splitlines()[1:4]
    assert [m.split(" op ")[0].strip() for m in moments] == [
        "gesteld",
        "beantwoord",
        "teruggekoppeld aan het bestuur van de moskee",
    ]
    assert "Doet mee: Yusuf Demir. Doet niet mee: Ahmed Yilmaz." in story
    assert "Terugkoppeling van Yusuf Demir op" in story


async def test_the_link_the_demo_points_at_opens_the_invitation_in_dutch(
    demo_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serve_in_background(demo_settings) as svc:
        story = await play(svc)
        console = capsys.readouterr().out
        async with httpx.AsyncClient() as client:
            page = await client.get(link_to_open(story, console))
            stad_links = re.findall(r"\[UITNODIGING aan a-stad-\d\] .* via (http\S+)", console)
            held = await client.get(stad_links[0])

    assert page.status_code == 200, page.text
    assert 'lang="nl"' in page.text and "Uitnodiging: belafspraak" in page.text
    assert "Ik kom" in page.text and "Nederlandse tijd" in page.text
    assert "Niet meer nodig" not in page.text
    # As the story says: the demonstration's meeting took place, its links are void.
    assert held.status_code == 410 and "Niet meer nodig" in held.text


async def test_demo_plays_again_on_the_same_store_after_clients_changed_it(
    demo_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    async with serve_in_background(demo_settings) as svc:
        await play(svc)
        follow_up = open_follow_up(await get(svc, "/escalations"))
        hooks = {"request": [acting(svc)]}
        async with httpx.AsyncClient(
            base_url=f"{svc.http_url}/api/v1", event_hooks=hooks
        ) as client:
            # An ally leaves, the follow-up is closed, and the police declare their own
            # escalation in Stad and call a meeting for it.
            removed = await client.delete("/networks/almere-stad/allies/a-stad-3", headers=OOV)
            closed = await client.post(
                f"/escalations/{follow_up['escalation_id']}/close",
                json={"reason": "afgehandeld"},
                headers=OOV,
            )
            declared = await client.post(
                "/escalations",
                json={"area": data.STAD, "theme": "demonstration", "reason": "eigen melding"},
                headers=POLICE,
            )
            eid = declared.json()["escalation_id"]
            called = await client.post(f"/escalations/{eid}/convenings", json={}, headers=POLICE)
        assert [r.status_code for r in (removed, closed, declared, called)] == [200, 200, 201, 201]
    capsys.readouterr()

    # Played again by a new process on the same store.
    async with serve_in_background(demo_settings) as svc:
        second = await play(svc)
        console = capsys.readouterr().out
        third = await play(svc)  # and once more, with nothing changed
        console_third = capsys.readouterr().out
        escalations = await get(svc, "/escalations")
        health = await get(svc, "/health")
        async with httpx.AsyncClient() as client:
            second_page = await client.get(link_to_open(second, console))
            third_page = await client.get(link_to_open(third, console_third))

    for story in (second, third):
        assert story.rstrip().endswith(SENTENCES["demo_ready"].strip()), story
        assert_every_header_has_content(story)
        assert "al eerder ontvangen" in story  # the signals are recognised by their keys
    assert "0 nieuw, 21 al aanwezig" in second
    # The removed ally cannot answer: told in Dutch, and the story goes on.
    assert "Geweigerd: antwoord van Mohamed Bouzid (a-stad-3) vastleggen (404" in second
    assert "3 van maximaal 12 bondgenoten" in second
    # The police's open escalation is taken up; their meeting is moved by the demo's.
    assert f"Escalatie {eid} geopend (afgekondigd)" in second
    assert "[AFGELAST aan a-stad-1]" in console
    # The follow-up was closed, so a new one is declared; played once more, it is moved.
    assert "De gemeente roept het netwerk bijeen: escalatie GM0034-poort_asylum_reception-2" in (
        second
    )
    assert "staat sinds" in third and "wordt verzet" in third
    assert "[AFGELAST aan a-poort-1]" in console_third
    stad = [e for e in escalations if e["area"] == data.STAD]
    assert all(e["status"] == "closed" for e in stad) and len(stad) == 3
    assert open_follow_up(escalations)["escalation_id"] == "GM0034-poort_asylum_reception-2"
    assert health["status"] == "ok"  # the service is still serving
    # The moved meeting's link is off; the latest one opens.
    assert second_page.status_code == 410
    assert third_page.status_code == 200 and "Niet meer nodig" not in third_page.text


def _imports(path: Path) -> set[str]:
    """Modules a file imports (``from services import demo`` counts as services.demo)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_only_the_cli_composes_the_demo_and_the_demo_uses_only_the_api() -> None:
    services = ROOT / "services"
    demo = services / "demo"
    composer = services / "entrypoints" / "cli.py"
    importers = [
        path.relative_to(ROOT)
        for path in services.rglob("*.py")
        if path != composer and demo not in path.parents
        if any(_within(m, "services.demo") for m in _imports(path))
    ]
    assert importers == []
    assert any(_within(m, "services.demo") for m in _imports(composer))
    forbidden = ("services.bootstrap", "services.app", "services.adapters")
    leaks = {
        f"{path.relative_to(ROOT)}: {m}"
        for path in demo.rglob("*.py")
        for m in _imports(path)
        if any(_within(m, f) for f in forbidden)
    }
    assert leaks == set()


async def test_a_demo_without_a_service_says_so_and_returns() -> None:
    story = await play(f"http://127.0.0.1:{free_port()}")
    assert "De dienst is niet bereikbaar op http://127.0.0.1:" in story
    assert SENTENCES["demo_ready"].strip() not in story
