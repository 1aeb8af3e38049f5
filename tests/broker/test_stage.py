"""A pending login's stage: written to its JSON column and read back in one place (``broker.login.pending.Stage``)."""

from __future__ import annotations

from broker.login.pending import Stage, Step

CONFIRM = Stage(Step.CONFIRM, attempt_id=7, account_ids=("acc-1",), oid="1000", tier="verified", amr="PWD",
                auth_time=1_700_000_000.0, email="a@example.org", mobile="+79990000000")  # fmt: skip


def test_a_stage_reads_back_as_it_was_written() -> None:
    invited = Stage(Step.INVITE_CODE, attempt_id=8, account_ids=("kid-1", "kid-2"), oid="2000", tier="simplified",
                    amr=None, auth_time=None, email=None, mobile=None, reference="ABCD-EFGH", tries=2, invite_id=5)  # fmt: skip
    for stage in (CONFIRM, invited):
        assert Stage.from_json(stage.to_json()) == stage


def test_the_stored_stage_keeps_the_keys_the_compare_and_set_reads() -> None:
    stored = CONFIRM.to_json()
    assert (stored["outcome"], stored["tries"], stored["account_ids"]) == ("linked", 0, ["acc-1"])


def test_a_stage_stored_before_tries_were_counted_reads_as_no_tries() -> None:
    stored = {"attempt_id": 7, "outcome": "linked", "account_ids": ["acc-1"], "oid": "1000", "tier": "verified",
              "amr": "PWD", "auth_time": 1_700_000_000.0, "email": "a@example.org", "mobile": "+79990000000"}  # fmt: skip
    assert Stage.from_json(stored) == CONFIRM
