"""What the person reads for each outcome (refusals take theirs from the refusal table)."""

from __future__ import annotations

from matching.model import Decision, Outcome
from matching.refusals import REFUSALS

GRANTED_RU = {
    Outcome.SIGNED_IN: "Вход выполнен.",
    Outcome.LINKED: "Учётная запись Госуслуг будет привязана к вашему аккаунту в электронном дневнике.",
    Outcome.CHOOSE_ACCOUNT: "У вас несколько аккаунтов в электронном дневнике: выберите, в какой войти.",
}


def message_ru(decision: Decision) -> str:
    """The one sentence the person reads about ``decision``."""
    if decision.reason is not None:
        return REFUSALS[decision.reason].message_ru
    return GRANTED_RU[decision.outcome]
