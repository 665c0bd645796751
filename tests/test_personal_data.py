"""Personal data sealed per ally, erasure and need to know (pure parts, in-memory adapters)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from domain import network as nw
from domain.errors import Conflict, NotFound
from events.codec import SEALED_KID_HEADER, DecodeError, decode, encode
from events.envelope import AggregateRef, new_envelope
from events.escalation import RsvpPersonal, RsvpRecorded
from events.network import AllyErased, DutyRole, ErasedPersonal
from events.personal import KeyNotLoaded
from projections.base import fold
from projections.call_lists import CallListProjection, call_list
from projections.escalations import ConveningRecord
from projections.network_health import network_health
from services.adapters.memory.eventstore import InMemoryEventStore
from services.adapters.memory.keystore import InMemoryKeyStore
from services.app.personal import Keyring
from tests.builders_network import (
    NETWORK_AREA,
    ally_enrolled,
    duty_contact,
    envelope,
    network_formed,
)
from tests.factories import at

NAME, PHONE = "Fatima El Amrani", "+31 6 5555 0101"


def enrolled(ally_id: str = "ally-1", **kw: Any) -> Any:
    return envelope(ally_enrolled(ally_id, name=NAME, phone=PHONE, communities=("moroccan",), **kw))


async def keyring_for(*envelopes: Any) -> tuple[Keyring, InMemoryKeyStore]:
    keys = InMemoryKeyStore()
    ring = Keyring(keys)
    for e in envelopes:
        await ring.prepare_events([e])
    return ring, keys


# ---------------------------------------------------------------- sealing at the codec


async def test_personal_part_is_stored_sealed_and_opens_with_the_key() -> None:
    env = enrolled()
    ring, _ = await keyring_for(env)
    headers, body = encode(env, ring)
    # The whole number: a bare "5555" can occur in base64 ciphertext by chance.
    assert NAME.encode() not in body and PHONE.encode() not in body and b"moroccan" not in body
    assert b"ally-1@example.nl" not in body
    stored = json.loads(body)
    assert set(stored["personal"]) == {"sealed"}
    assert stored["personal"]["sealed"]["kid"] == "ally.ally-1" == headers[SEALED_KID_HEADER]
    assert stored["ally_id"] == "ally-1"  # the rest of the event stays readable
    assert decode(headers, body, cipher=ring).data == env.data


async def test_destroyed_key_reads_as_erased_and_the_rest_of_the_event_stays() -> None:
    env = enrolled()
    ring, keys = await keyring_for(env)
    headers, body = encode(env, ring)
    await ring.destroy_ally("ally-1")
    assert not keys.holds("ally.ally-1")
    back = decode(headers, body, cipher=ring).data
    assert isinstance(back.personal, ErasedPersonal)
    assert (back.personal.name, back.personal.phone, back.personal.communities) == ("", "", ())
    assert back.ally_id == "ally-1" and back.areas == env.data.areas
    # Nothing is sealed for an erased owner again: a later event stores no personal data.
    await ring.prepare_events([env])
    _, again = encode(env, ring)
    assert json.loads(again)["personal"] == {"erased": True}


class GatedKeyStore(InMemoryKeyStore):
    """Holds ``key_for`` until ``release`` is set (to destroy a key while it is fetched) and
    counts the calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.fetching = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()

    async def key_for(self, owner: str, *, create: bool) -> bytes | None:
        self.calls += 1
        key = await super().key_for(owner, create=create)
        self.fetching.set()
        await self.release.wait()
        return key


async def test_a_key_destroyed_while_it_is_fetched_does_not_come_back() -> None:
    env = enrolled()
    keys = GatedKeyStore()
    ring = Keyring(keys)
    await ring.prepare_events([env])
    headers, body = encode(env, ring)
    reader = Keyring(keys)  # another keyring: fetches the key to read the event
    keys.release.clear()
    keys.fetching.clear()
    fetch = asyncio.create_task(reader.prepare(["ally.ally-1"], create=False))
    await keys.fetching.wait()  # the key was read from the store, the fetch not yet done
    await reader.destroy_ally("ally-1")
    keys.release.set()
    await fetch
    assert isinstance(decode(headers, body, cipher=reader).data.personal, ErasedPersonal)


async def test_an_erased_owner_is_not_asked_of_the_key_store_again() -> None:
    env = enrolled()
    keys = GatedKeyStore()
    await keys.destroy("ally.ally-1")  # erased by another instance
    ring = Keyring(keys)
    await ring.prepare_events([env])
    asked = keys.calls
    await ring.prepare_events([env])
    await ring.prepare(["ally.ally-1"], create=False)
    assert keys.calls == asked
    assert json.loads(encode(env, ring)[1])["personal"] == {"erased": True}


async def test_a_snapshots_keys_are_fetched_at_once_and_a_failure_is_raised_as_is() -> None:
    class CountingKeys(InMemoryKeyStore):
        in_flight = most = 0
        fail = False

        async def key_for(self, owner: str, *, create: bool) -> bytes | None:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            try:
                await asyncio.sleep(0)
                if self.fail:
                    raise TimeoutError("key store unavailable")
                return await super().key_for(owner, create=create)
            finally:
                self.in_flight -= 1

    keys = CountingKeys()
    ring = Keyring(keys)
    await ring.prepare([f"ally.a{i}" for i in range(5)], create=True)
    assert keys.most > 1 and all(keys.holds(f"ally.a{i}") for i in range(5))
    keys.fail = True
    with pytest.raises(TimeoutError):  # not wrapped: reactors tell transient errors apart
        await ring.prepare(["ally.b1", "ally.b2"], create=True)


async def test_a_sealed_part_cannot_be_moved_to_another_event() -> None:
    first, second = enrolled(), enrolled()
    ring, _ = await keyring_for(first, second)
    _, b1 = encode(first, ring)
    h2, b2 = encode(second, ring)
    moved = {**json.loads(b2), "personal": json.loads(b1)["personal"]}
    with pytest.raises(DecodeError, match="does not open"):
        decode(h2, json.dumps(moved).encode(), cipher=ring)


async def test_legacy_plaintext_still_decodes_and_sealed_needs_the_keys() -> None:
    env = enrolled()
    headers, body = encode(env)  # no cipher: as stored before sealing existed
    assert NAME.encode() in body
    ring, _ = await keyring_for()
    assert decode(headers, body, cipher=ring).data == env.data
    sealing, _ = await keyring_for(env)
    h, b = encode(env, sealing)
    with pytest.raises(KeyNotLoaded):
        decode(h, b)  # a caller's bug (no keyring), never read as erased
    with pytest.raises(KeyNotLoaded):
        decode(h, b, cipher=ring)  # key not fetched first


async def test_rsvp_communities_and_duty_contacts_are_sealed_too() -> None:
    rsvp = RsvpRecorded(
        escalation_id="esc-1",
        convening_id="c1",
        ally_id="ally-1",
        answer="attending",
        personal=RsvpPersonal(communities=("jewish",)),
    )
    env = new_envelope(
        rsvp,
        aggregate=AggregateRef(kind="escalation", area=NETWORK_AREA, id="demonstration"),
        actor="ally:ally-1",
        source="/t",
        recorded_at=at(0),
    )
    dc = envelope(duty_contact(DutyRole.POLICE, "wijkagent-3", name="Jan Wachter"))
    ring, _ = await keyring_for(env, dc)
    cases = [(env, b"jewish", "ally.ally-1"), (dc, b"Wachter", "contact.wijkagent-3")]
    for e, secret, kid in cases:
        headers, body = encode(e, ring)
        assert secret not in body and headers[SEALED_KID_HEADER] == kid
        assert decode(headers, body, cipher=ring).data == e.data


async def test_in_memory_store_seals_and_erasure_reaches_every_read() -> None:
    ring = Keyring(InMemoryKeyStore())
    store = InMemoryEventStore(ring)
    formed, env = envelope(network_formed()), enrolled()
    await store.append([formed], 0)
    await store.append([env], 1)
    raw = [r async for r in store.read_raw()][1]
    assert NAME.encode() not in raw.body
    assert [e.data async for e in store.read()][1] == env.data
    await ring.destroy_ally("ally-1")
    events, _ = await store.load(env.aggregate)
    assert isinstance(events[1].data.personal, ErasedPersonal)


# ---------------------------------------------------------------- the decision


def test_erasure_is_decided_once_for_a_current_or_former_member() -> None:
    given = [network_formed(), ally_enrolled("ally-1"), ally_enrolled("ally-2")]
    erase = nw.EraseAlly(network_id="nw-haven", ally_id="ally-1", reason="op verzoek")
    (erased,) = nw.network_decider.run(given, erase)
    assert erased == AllyErased(network_id="nw-haven", ally_id="ally-1", reason="op verzoek")
    assert nw.network_decider.run([*given, erased], erase) == []  # idempotent
    state = nw.network_decider.fold([*given, erased])
    assert state.members == {"ally-2"} and state.erased == {"ally-1"}
    with pytest.raises(NotFound) as missing:
        nw.network_decider.run(given, erase.model_copy(update={"ally_id": "ally-9"}))
    assert missing.value.field == "ally_id"
    with pytest.raises(Conflict) as again:
        nw.network_decider.run([*given, erased], nw.EnrollAlly(event=ally_enrolled("ally-1")))
    assert again.value.field == "ally_id"


# ---------------------------------------------------------------- read models


async def test_call_list_drops_the_erased_and_its_snapshot_holds_no_plaintext() -> None:
    formed, env, other = envelope(network_formed()), enrolled(), enrolled("ally-2")
    dc = envelope(duty_contact(DutyRole.POLICE, "wijkagent-3", name="Jan Wachter"))
    ring, _ = await keyring_for(env, other, dc)
    projection = CallListProjection(ring)
    state = fold(projection, [formed, env, other, dc])
    blob = projection.dump(state)
    assert NAME.encode() not in blob and b"Wachter" not in blob and b"moroccan" not in blob
    assert projection.load(blob) == state
    await ring.destroy_ally("ally-1")
    reloaded = projection.load(blob)
    assert isinstance(reloaded.networks["nw-haven"].members["ally-1"].personal, ErasedPersonal)
    # Replayed before the AllyErased is folded: shown as erased, without contact details.
    lst = call_list(reloaded, area=NETWORK_AREA, themes=(), communities=("moroccan",), at=at(5))
    shown = {e.ally_id: e for e in lst.entries}
    assert shown["ally-1"].erased and shown["ally-1"].name == "" and shown["ally-1"].phone == ""
    assert lst.coverage_gaps == ()  # ally-2 still covers the community
    # Folded: gone from the list and the counts.
    gone = AllyErased(network_id="nw-haven", ally_id="ally-1", reason="op verzoek")
    after = projection.evolve(reloaded, envelope(gone, minutes=6))
    lst = call_list(after, area=NETWORK_AREA, themes=(), communities=(), at=at(7))
    assert [e.ally_id for e in lst.entries] == ["ally-2"]
    (health,) = network_health(after, at=at(7))
    assert health.members == 1


async def test_rsvp_communities_are_sealed_in_the_escalations_snapshot() -> None:
    ring, _ = await keyring_for(enrolled())
    record = ConveningRecord(
        convening_id="c1",
        starts_at=at(60),
        mode="physical",
        place="",
        invited=["ally-1"],
        required_communities=["moroccan"],
        quorum=1,
        rsvp_deadline=at(30),
        communities_by_ally={"ally-1": ["moroccan"]},
    )
    ctx = {"personal_cipher": ring}
    blob = record.model_dump_json(context=ctx)
    assert "moroccan" not in blob.replace('"required_communities":["moroccan"]', "")
    assert ConveningRecord.model_validate_json(blob, context=ctx) == record
    await ring.destroy_ally("ally-1")
    assert ConveningRecord.model_validate_json(blob, context=ctx).communities_by_ally == {
        "ally-1": []
    }


def test_refused_input_is_kept_without_its_personal_part() -> None:
    from services.app.personal import withhold_personal

    body = json.dumps({"ally_id": "a9", "personal": {"name": NAME, "phone": "bel me"}}).encode()
    kept = json.loads(withhold_personal(body))
    assert kept["ally_id"] == "a9" and NAME not in json.dumps(kept)
    assert withhold_personal(b'{"summary": "x"}') == b'{"summary": "x"}'
    assert NAME.encode() not in withhold_personal(b'{"personal": {"name": "' + NAME.encode())
    deep = b"[" * 5000 + b'"personal"' + b"]" * 5000
    assert withhold_personal(deep) != deep
    escaped = b'{"ally_id": "a9", "\\u0070ersonal": {"name": "' + NAME.encode() + b'"}}'
    assert NAME.encode() not in withhold_personal(escaped)
    assert json.loads(withhold_personal(escaped))["ally_id"] == "a9"
    unicode = b'{"summary": "caf\\u00e9"}'
    assert withhold_personal(unicode) == unicode  # escapes alone withhold nothing
    listed = b'["caf\\u00e9", {"\\u0070ersonal": "' + NAME.encode() + b'"}]'
    assert NAME.encode() not in withhold_personal(listed)
    assert withhold_personal(b'["caf\\u00e9"]') == b'["caf\\u00e9"]'
