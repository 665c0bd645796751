"""NATS authorization, generated: nkey identities and the server's permissions.

Every client of the server proves an nkey (ed25519, the ``nkeys`` package; the seed never leaves
the client, the server keeps only the public key). Two kinds of user:

* **the service** (``service.nk``): the only one that publishes events (``<prefix>.ev.>``),
  manages streams and reads them (``$JS.API.>``), uses the KV buckets (secrets, keys) and
  the object store (projection snapshots), schedules timers, answers the command subjects
  and receives on its inboxes;
* **an integration** (``<role>.<id>.nk``, e.g. ``police.meldkamer-oost.nk``): may only
  *request* its own command subjects ``<prefix>.cmd.<role>.<id>.>`` and query subjects
  ``<prefix>.query.<role>.<id>.>``, and receive the replies on
  its own inbox prefix ``_INBOX.<role>.<id>.>`` (connect with ``inbox_prefix``). Nothing else:
  no event subject, no JetStream API (so no stream, consumer or KV bucket), no other
  identity's subjects or replies. Operations identities (the roles of the matrix action
  ``outbound.subscribe``) may also subscribe to the outbound escalation events
  (``<prefix>.out.>``) and keep one durable consumer ``<role>-<id>`` on the outbound stream.

The identity of a command comes from the subject (``<role>.<id>``), which the server lets only
that nkey publish: a request body can never choose who acts.

Layout in the directory (the embedded server's, ``<data dir>/nats``), every file mode 0600::

    identities/service.nk                 the service's seed
    identities/<role>.<id>.nk             one seed per integration identity
    authorization.conf                    generated from the seeds; included by nats-server.conf

:func:`ensure_authorization` is idempotent: seeds are created once and kept, the configuration
is regenerated from them on every call (also when the subject prefix changed).
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import nkeys
import structlog

from domain.access import ID, MATRIX, OUTSIDE_ROLES, Role, inbox_prefix
from services.adapters.jetstream.topology import Topology
from services.adapters.private_files import create_private, replace_private

log = structlog.get_logger(__name__)

IDENTITIES = "identities"
AUTHORIZATION_FILE = "authorization.conf"
SERVICE_IDENTITY = "service"


class AuthorizationError(ValueError):
    pass


def command_subjects(subject_prefix: str, role: str, identity: str) -> str:
    """All command subjects of one identity: ``<prefix>.cmd.<role>.<id>.>``."""
    return f"{subject_prefix}.cmd.{role}.{identity}.>"


def query_subjects(subject_prefix: str, role: str, identity: str) -> str:
    """All query subjects of one identity: ``<prefix>.query.<role>.<id>.>`` (which reads
    its role may make, the service decides: the role x action matrix)."""
    return f"{subject_prefix}.query.{role}.{identity}.>"


@dataclass(frozen=True)
class Identity:
    """One nkey user: ``name`` is ``service`` or ``<role>.<id>``; ``seed_file`` holds its seed."""

    name: str
    seed_file: Path
    public_key: str

    @property
    def is_service(self) -> bool:
        return self.name == SERVICE_IDENTITY

    @property
    def role(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def id(self) -> str:
        return self.name.split(".", 1)[1] if "." in self.name else ""


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` readable by the owner only, also if the file existed with another mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    replace_private(path, data)


def _public_key(seed_file: Path) -> str:
    seed = bytearray(seed_file.read_bytes().strip())
    try:
        kp = nkeys.from_seed(seed)
        return str(kp.public_key.decode())
    except nkeys.NkeysError as exc:
        raise AuthorizationError(f"{seed_file} holds no valid nkey seed: {exc}") from None


def _identity(directory: Path, name: str) -> Identity:
    """The identity ``name``, with a new seed if it has none yet."""
    seed_file = directory / IDENTITIES / f"{name}.nk"
    if not seed_file.exists():
        seed_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created once: a concurrent creator's seed wins, and nobody reads it half-written.
        create_private(
            seed_file,
            lambda: bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)) + b"\n",
        )
        log.info("nats.identity.created", identity=name)
    with contextlib.suppress(OSError):
        os.chmod(seed_file, 0o600)
    return Identity(name, seed_file, _public_key(seed_file))


def identities(directory: Path) -> list[Identity]:
    """Every identity with a seed in ``directory``, the service first."""
    found = sorted((directory / IDENTITIES).glob("*.nk"))
    names = [p.stem for p in found if p.stem != SERVICE_IDENTITY]
    return [_identity(directory, SERVICE_IDENTITY)] + [_identity(directory, n) for n in names]


def _check(role: str, identity: str) -> None:
    if role not in OUTSIDE_ROLES:  # the service's own never comes from outside
        raise AuthorizationError(f"role must be one of {', '.join(OUTSIDE_ROLES)}")
    if not ID.match(identity):
        raise AuthorizationError("id: lower-case letters, digits, - and _ (one subject token)")


def service_permissions(subject_prefix: str) -> dict[str, object]:
    everything_ours = f"{subject_prefix}.>"  # events, commands, timers, rejected, dead letters
    buckets = ["$KV.>", "$O.>"]  # secrets and keys (KV), projection snapshots (object store)
    return {
        "publish": {
            "allow": [everything_ours, "$JS.API.>", "$JS.ACK.>", "$JS.FC.>", *buckets, "_INBOX.>"]
        },
        "subscribe": {"allow": [everything_ours, *buckets, "_INBOX.>"]},
    }


def outbound_consumer(role: str, identity: str) -> str:
    """The one durable consumer an operations identity may keep on the outbound stream."""
    return f"{role}-{identity}"


def integration_permissions(
    subject_prefix: str, role: str, identity: str, stream_prefix: str = "BG"
) -> dict[str, object]:
    publish = [
        command_subjects(subject_prefix, role, identity),
        query_subjects(subject_prefix, role, identity),
    ]
    subscribe = [f"{inbox_prefix(role, identity)}.>"]
    if Role(role) in MATRIX["outbound.subscribe"]:
        # Operations follow the escalation events: live on the subjects, or resuming from
        # their own durable consumer on the outbound stream (nothing else of JetStream).
        topology = Topology(stream_prefix, subject_prefix)
        stream, name = topology.outbound_stream, outbound_consumer(role, identity)
        subscribe.append(topology.outbound_subjects)
        api = "$JS.API"
        publish += [
            f"{api}.STREAM.INFO.{stream}",
            f"{api}.CONSUMER.INFO.{stream}.{name}",
            f"{api}.CONSUMER.CREATE.{stream}.{name}",
            f"{api}.CONSUMER.CREATE.{stream}.{name}.>",
            f"{api}.CONSUMER.DURABLE.CREATE.{stream}.{name}",
            f"{api}.CONSUMER.DELETE.{stream}.{name}",
            f"{api}.CONSUMER.MSG.NEXT.{stream}.{name}",
            f"$JS.ACK.{stream}.{name}.>",
        ]
    return {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}


def render(subject_prefix: str, users: list[Identity], stream_prefix: str = "BG") -> str:
    """The ``authorization`` block of nats-server.conf (JSON values are valid NATS config)."""
    entries = []
    for user in users:
        permissions = (
            service_permissions(subject_prefix)
            if user.is_service
            else integration_permissions(subject_prefix, user.role, user.id, stream_prefix)
        )
        entry = {"nkey": user.public_key, "permissions": permissions}
        entries.append(f"    # {user.name}\n    {json.dumps(entry)}")
    return (
        "# Generated by `bondgenoten nats-config` / `bondgenoten nats-user`: do not edit.\n"
        "# Only these nkeys connect; each may do only what its permissions allow.\n"
        "authorization {\n"
        "  users = [\n" + ",\n".join(entries) + "\n  ]\n}\n"
    )


@dataclass(frozen=True)
class Authorization:
    """The generated configuration: the file to include and the service's own seed."""

    config_file: Path
    service_seed: Path
    users: tuple[Identity, ...]


def ensure_authorization(
    directory: Path, subject_prefix: str, *, stream_prefix: str = "BG"
) -> Authorization:
    """Create the service's seed if missing and (re)write ``authorization.conf`` from every seed
    in ``directory``. Idempotent: the same seeds give the same file."""
    users = identities(directory)
    config = directory / AUTHORIZATION_FILE
    text = render(subject_prefix, users, stream_prefix).encode()
    if not config.exists() or config.read_bytes() != text:
        _write_private(config, text)
    return Authorization(config, users[0].seed_file, tuple(users))


def add_integration(
    directory: Path, subject_prefix: str, role: str, identity: str, *, stream_prefix: str = "BG"
) -> Identity:
    """Create (or find) the nkey of integration ``<role>:<id>`` and regenerate the configuration.
    A running server must reload it (:func:`reload_running_server`) to let it in."""
    _check(role, identity)
    user = _identity(directory, f"{role}.{identity}")
    ensure_authorization(directory, subject_prefix, stream_prefix=stream_prefix)
    return user
