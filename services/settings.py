"""Runtime settings from the environment (twelve-factor), typed and validated in one place.

Every variable is ``BONDGENOTEN_<FIELD>`` (``BONDGENOTEN_HTTP_PORT``), except ``NATS_URL``.
A wrong value stops the start with a message naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from events.signals import THEME_CODE

CONFIG = Path(__file__).parent / "config"
DEFAULT_POLICY = CONFIG / "escalation-policy.toml"
DEMO_POLICY = CONFIG / "demo-policy.toml"
DEFAULT_MAP_AREAS = CONFIG / "almere-areas.geojson"
DEFAULT_MAP_OUTLINES = CONFIG / "flevoland-outlines.geojson"


class FeedSubscription(BaseModel):
    """One webhook subscription to the outbound escalation events (signed, Standard Webhooks;
    see ``services.adapters.notify.feed``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    """Names its durable consumer (``outbound_webhook_<name>``): keep it, or the feed restarts."""
    url: str = Field(pattern=r"^https?://\S+$")
    secret: str = Field(min_length=16)
    """The HMAC-SHA256 key the receiver verifies ``webhook-signature`` with."""
    subjects: str = Field(default="escalation.>", pattern=r"^escalation(\.[A-Za-z0-9*>_-]+)*$")
    """Which events, below ``<prefix>.out.``: ``escalation.GM0034.>`` one municipality,
    ``escalation.*.opened`` one event type."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BONDGENOTEN_", frozen=True, extra="ignore", populate_by_name=True
    )

    nats_url: str | None = Field(
        default=None, validation_alias=AliasChoices("NATS_URL", "nats_url")
    )
    """Connect to this server or cluster (comma-separated URLs). Unset: start an embedded one."""
    nats_seed_file: Path | None = None
    """With ``NATS_URL``: the service's nkey seed file (``BONDGENOTEN_NATS_SEED_FILE``)."""
    nats_creds: Path | None = None
    """With ``NATS_URL``: a NATS credentials file (JWT + seed) instead (``BONDGENOTEN_NATS_CREDS``).
    Without ``NATS_URL`` neither is needed: the embedded server's configuration is generated
    (``bondgenoten nats-config``) and the service uses its own seed from it."""
    data_dir: Path = Path(".bondgenoten")
    """Embedded server store and local state."""
    nats_port: int = Field(default=4222, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    stream_prefix: str = Field(default="BG", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    subject_prefix: str = Field(default="bg", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    duplicate_window_s: float = Field(default=120.0, gt=0)
    otlp_endpoint: str | None = None
    """OpenTelemetry traces over OTLP/HTTP to this URL (``BONDGENOTEN_OTLP_ENDPOINT``, e.g.
    ``http://collector:4318/v1/traces``); unset: no traces are exported."""
    replicas: int | None = Field(default=None, ge=1, le=5)
    """Copies of each stream and bucket the service creates (``BONDGENOTEN_REPLICAS``); unset:
    3 when the server is part of a cluster, else 1."""
    instance: str = Field(default="", pattern=r"^[a-z0-9-]{0,32}$")
    """This instance's name when several run against one NATS (``BONDGENOTEN_INSTANCE``):
    each keeps its own read models, so each needs its own projection consumers; the command
    subjects and reactors are shared (queue group, shared durable consumers)."""
    escalation_policy: Path = DEFAULT_POLICY
    """TOML file with the escalation policy per municipality (see that file's comments)."""
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_sender: str = "bondgenoten@localhost"
    cap_sender: str = "bondgenoten@gemeente.example"
    cap_status: Literal["Actual", "Exercise", "Test"] = "Actual"
    public_url: str | None = None
    """Base URL of this service as recipients reach it (links in alerts and invitations)."""
    rsvp_secret: str | None = None
    """Key for the personal answer links in invitations; unset: one kept in NATS KV."""
    master_key: str | None = None
    """Base64 of 32 bytes: wraps the per-ally data keys kept in NATS KV. Unset: one made on the
    first start in ``<data_dir>/master.key`` (mode 0600). Keep it outside NATS and back it up:
    without it no personal data can be read."""
    signal_retention_days: float | None = Field(default=None, gt=0)
    """Signals older than this leave the event log (a per-message TTL on each new signal);
    unset: kept for ever. See the README, "Retention"."""
    oidc_issuer: str | None = None
    """The identity provider's issuer (``iss``), e.g. ``https://login.gemeente.nl/realms/oov``.
    Unset: the built-in issuer (a key in ``data_dir``; ``bondgenoten token``)."""
    oidc_jwks_url: str | None = None
    """The issuer's JWKS URL (required with ``oidc_issuer``), e.g. Keycloak's
    ``…/protocol/openid-connect/certs``, Entra ID's ``…/discovery/v2.0/keys``."""
    oidc_audience: str = "bondgenoten"
    """The ``aud`` tokens must carry (the client id / application id URI of this service)."""
    oidc_roles_claim: str = "roles"
    """The claim with the role(s); dots descend into objects (Keycloak: ``realm_access.roles``)."""
    oidc_id_claim: str = "sub"
    """The claim naming who acts (a-z, 0-9, ``-``, ``_``; Entra ID: ``oid``)."""
    oidc_leeway_s: float = Field(default=30.0, ge=0, le=300)
    """Clock skew tolerated on ``exp`` and ``nbf``."""
    pseudonym_secret: str | None = None
    """Key for allies' pseudonyms (``Bondgenoot 3f9a1c``); unset: one kept in NATS KV."""
    question_escalate_after_s: float = Field(default=4 * 3600.0, gt=0, le=30 * 86_400)
    """A constituency question unanswered this long escalates (once) to the policy's first
    level (``BONDGENOTEN_QUESTION_ESCALATE_AFTER_S``)."""
    extra_themes: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias=AliasChoices("BONDGENOTEN_THEMES", "extra_themes")
    )
    """Themes this deployment adds to the default vocabulary (comma-separated codes)."""
    log_level: str = "INFO"
    outbound_webhooks: tuple[FeedSubscription, ...] = ()
    """Webhook subscriptions to the outbound escalation events, as JSON
    (``BONDGENOTEN_OUTBOUND_WEBHOOKS='[{"name": "politie-oost", "url": "https://…",
    "secret": "…", "subjects": "escalation.GM0034.>"}]'``)."""
    map_areas: Path = DEFAULT_MAP_AREAS
    """GeoJSON FeatureCollection of this deployment's areas for the dashboard's map (each
    feature's ``id`` or ``properties.code`` the area code, e.g. ``GM0034-stad``). The default
    has the demo's Almere districts, drawn approximately."""
    map_outlines: Path = DEFAULT_MAP_OUTLINES
    """GeoJSON of the municipality and safety-region outlines under the areas (default:
    Flevoland, from CBS 2025; ``tools/topojson_extract.py`` makes one for another region)."""
    demo_login: bool = False
    """Let the dashboard's login page mint a token for a fixed demo identity per role (the
    built-in issuer only; never with ``oidc_issuer``). On with ``run --demo``; never in
    production."""

    @field_validator("extra_themes", mode="before")
    @classmethod
    def _themes(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(t.strip() for t in value.split(",") if t.strip())
        return value

    @field_validator("extra_themes")
    @classmethod
    def _theme_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [t for t in value if not THEME_CODE.fullmatch(t)]
        if bad:
            raise ValueError(f"not a theme code {bad} (a-z, 0-9, _; 2-40 characters)")
        return value

    @field_validator(
        "nats_url",
        "smtp_host",
        "public_url",
        "rsvp_secret",
        "master_key",
        "nats_seed_file",
        "nats_creds",
        "oidc_issuer",
        "oidc_jwks_url",
        "pseudonym_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _issuer_has_keys(self) -> Settings:
        if self.oidc_issuer is not None and self.oidc_jwks_url is None:
            raise ValueError("BONDGENOTEN_OIDC_JWKS_URL is required with BONDGENOTEN_OIDC_ISSUER")
        return self

    @property
    def nats_dir(self) -> Path:
        """The embedded server's store and its generated authorization (seeds, config)."""
        return self.data_dir / "nats"

    @property
    def http_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"

    @property
    def local_issuer(self) -> str:
        """The built-in issuer's ``iss``: this service's public URL."""
        return (self.public_url or self.http_url).rstrip("/")

    def for_demo(self, *, explicit_policy: bool) -> Settings:
        """The demo is an exercise: alerts go to the console with short timeouts, unless an
        escalation policy was chosen explicitly."""
        policy = self.escalation_policy if explicit_policy else DEMO_POLICY
        return self.model_copy(
            update={"escalation_policy": policy, "cap_status": "Exercise", "demo_login": True}
        )
