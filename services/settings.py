"""Runtime settings from the environment (twelve-factor): one place, typed, documented."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_POLICY = Path(__file__).parent / "config" / "escalation-policy.toml"
DEMO_POLICY = Path(__file__).parent / "config" / "demo-policy.toml"


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    nats_url: str | None = None
    """Connect to this server or cluster (comma-separated URLs). Unset: start an embedded one."""
    data_dir: Path = Path(".bondgenoten")
    """Embedded server store and local state."""
    nats_port: int = 4222
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    stream_prefix: str = "BG"
    subject_prefix: str = "bg"
    duplicate_window_s: float = 120.0
    source: str = "/bondgenoten"
    escalation_policy: Path = DEFAULT_POLICY
    """TOML file with the escalation policy per municipality (see that file's comments)."""
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "bondgenoten@localhost"
    cap_sender: str = "bondgenoten@gemeente.example"
    cap_status: str = "Actual"
    public_url: str | None = None
    """Base URL of this service as recipients reach it (acknowledge links in alerts)."""
    rsvp_secret: str | None = None
    """Key for the personal answer links in invitations; unset: one kept in NATS KV."""
    extra_themes: tuple[str, ...] = ()
    """Themes this deployment adds to the default vocabulary (lower-case codes)."""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            nats_url=os.environ.get("NATS_URL") or None,
            data_dir=Path(os.environ.get("BONDGENOTEN_DATA_DIR", ".bondgenoten")),
            nats_port=int(os.environ.get("BONDGENOTEN_NATS_PORT", "4222")),
            http_host=os.environ.get("BONDGENOTEN_HTTP_HOST", "127.0.0.1"),
            http_port=int(os.environ.get("BONDGENOTEN_HTTP_PORT", "8080")),
            stream_prefix=os.environ.get("BONDGENOTEN_STREAM_PREFIX", "BG"),
            subject_prefix=os.environ.get("BONDGENOTEN_SUBJECT_PREFIX", "bg"),
            duplicate_window_s=_env_float("BONDGENOTEN_DUPLICATE_WINDOW_S", 120.0),
            escalation_policy=Path(
                os.environ.get("BONDGENOTEN_ESCALATION_POLICY", str(DEFAULT_POLICY))
            ),
            smtp_host=os.environ.get("BONDGENOTEN_SMTP_HOST") or None,
            smtp_port=int(os.environ.get("BONDGENOTEN_SMTP_PORT", "25")),
            smtp_sender=os.environ.get("BONDGENOTEN_SMTP_SENDER", "bondgenoten@localhost"),
            cap_sender=os.environ.get("BONDGENOTEN_CAP_SENDER", "bondgenoten@gemeente.example"),
            cap_status=os.environ.get("BONDGENOTEN_CAP_STATUS", "Actual"),
            public_url=os.environ.get("BONDGENOTEN_PUBLIC_URL") or None,
            rsvp_secret=os.environ.get("BONDGENOTEN_RSVP_SECRET") or None,
            extra_themes=tuple(
                t.strip() for t in os.environ.get("BONDGENOTEN_THEMES", "").split(",") if t.strip()
            ),
        )

    def for_demo(self) -> Settings:
        """The demo is an exercise: alerts go to the console with short timeouts, unless an
        escalation policy was chosen explicitly."""
        explicit = "BONDGENOTEN_ESCALATION_POLICY" in os.environ
        return replace(
            self,
            escalation_policy=self.escalation_policy if explicit else DEMO_POLICY,
            cap_status="Exercise",
        )
