"""The framework for action (handelingskader) as a document: JSON, and Dutch Markdown."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from projections.outreach import PulseRecord, PulseSummary
from services.texts_nl import outreach as texts
from services.texts_nl.alerts import theme_nl, when_nl


class AdoptedAdvice(BaseModel):
    ally: str
    """The ally's name or pseudonym, as the reader may see it."""
    advice: str
    erased: bool


class FrameworkDocument(BaseModel):
    pulse_id: str
    title: str
    area: str
    area_name: str
    theme: str
    escalation_id: str | None
    question: str
    compiled_at: str
    compiled_by: str
    levels: dict[str, int]
    mean_level: float | None
    adopted: list[AdoptedAdvice]
    measures: list[str]


def framework_document(
    record: PulseRecord,
    summary: PulseSummary,
    area_name: str,
    who: Callable[[str], str],
) -> FrameworkDocument | None:
    """The compiled framework of a pulse (``None`` if none yet); ``who`` names an ally as the
    reader may see them. The advice text is read from the ally's answer, so an erased ally's
    adopted advice shows as erased."""
    framework = record.framework
    if framework is None:
        return None
    by_ally = {a.ally_id: a for a in summary.answers}
    adopted = [
        AdoptedAdvice(
            ally=who(ally_id),
            advice=by_ally[ally_id].advice if ally_id in by_ally else "",
            erased=by_ally[ally_id].erased if ally_id in by_ally else True,
        )
        for ally_id in framework.adopted
    ]
    return FrameworkDocument(
        pulse_id=record.pulse_id,
        title=framework.title,
        area=record.area,
        area_name=area_name,
        theme=record.theme,
        escalation_id=framework.escalation_id,
        question=record.question,
        compiled_at=when_nl(framework.compiled_at),
        compiled_by=framework.compiled_by,
        levels=summary.levels,
        mean_level=summary.mean_level,
        adopted=adopted,
        measures=framework.measures,
    )


def framework_markdown(doc: FrameworkDocument) -> str:
    advice = "\n".join(
        texts.FRAMEWORK_ADVICE_ITEM.format(
            who=a.ally, advice=texts.FRAMEWORK_ERASED if a.erased else a.advice
        )
        for a in doc.adopted
    )
    measures = "\n".join(f"- {m}" for m in doc.measures)
    spread = ", ".join(f"{level}: {n}" for level, n in doc.levels.items())
    return texts.FRAMEWORK_MD.format(
        title=doc.title,
        pulse_id=doc.pulse_id,
        theme_nl=theme_nl(doc.theme),
        area_name=doc.area_name,
        escalation=doc.escalation_id or texts.FRAMEWORK_NO_ESCALATION,
        compiled_nl=doc.compiled_at,
        compiled_by=doc.compiled_by,
        question=doc.question,
        spread=spread,
        mean="-" if doc.mean_level is None else f"{doc.mean_level:.1f}".replace(".", ","),
        advice=advice or texts.FRAMEWORK_NONE,
        measures=measures or texts.FRAMEWORK_NONE,
    )
