"""Linkage integrity (docs/linkage.md): every registration is matched against the issuer's
four items; a mismatch is stored but held, reported to the insurer by item name only, and
released by a correction that matches or by two distinct users' confirmations."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from insurer_registry.db import transaction
from insurer_registry.errors import LinkageConfirmationByOperator
from insurer_registry.insurers.credentials import CredentialKind
from insurer_registry.insurers.service import issue_credential
from insurer_registry.linkage.service import confirm_linkage
from insurer_registry.lookup.local import RegistryQualificationSource
from insurer_registry.members.audit import Actor
from insurer_registry.models import LinkageEvent, Qualification
from onshi_kernel.mynumber import DEVELOPMENT_PSEUDONYM_KEY, person_reference
from tests.support.registry import (
    RegisteredInsurer,
    TestResidents,
    Writer,
    member_body,
    my_number,
)

pytestmark = pytest.mark.db

# Member 7's My Number, registered by an insurer under another person's name: the mislink
# of 2023 (the issuer knows member 7 as 山田 太郎).
MISLINKED = member_body(7, Name="佐藤　花子", NameKana="サトウ　ハナコ", Sex1="2")


def ref(n: int) -> str:
    return person_reference(my_number(n), DEVELOPMENT_PSEUDONYM_KEY)


def second_user(sessions: sessionmaker[Session], insurer: RegisteredInsurer) -> RegisteredInsurer:
    """Another user (credential) of the same insurer."""
    with transaction(sessions) as session:
        issued = issue_credential(
            session=session, kind=CredentialKind.INSURER, label="second", insurer=insurer.info
        )
    return RegisteredInsurer(insurer.info, issued.token)


def register(writer: Writer, insurer: RegisteredInsurer, body: dict[str, Any]) -> dict[str, Any]:
    response = writer.post("/v1/members", insurer, body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def events(sessions: sessionmaker[Session], qualification_id: int) -> list[tuple[str, str]]:
    with sessions() as session:
        return [
            (e.event, e.state)
            for e in session.scalars(
                select(LinkageEvent)
                .where(LinkageEvent.qualification_id == qualification_id)
                .order_by(LinkageEvent.id)
            )
        ]


def test_a_registration_that_matches_the_issuer_is_answered(
    writer: Writer, insurer_a: RegisteredInsurer, sessions: sessionmaker[Session]
) -> None:
    member = register(writer, insurer_a, member_body(1))
    assert member["Linkage"]["Status"] == "matched"
    assert member["Linkage"]["Answered"] is True
    assert member["Linkage"]["Outcomes"] == {
        "Name": "match", "Birthdate": "match", "Sex1": "match", "Address": "not_given",
    }  # fmt: skip
    found = RegistryQualificationSource(sessions).qualifications_of(ref(1))
    assert [q.qualification_id for q in found.qualifications] == [member["QualificationId"]]
    assert found.held == ()


def test_another_persons_my_number_is_stored_but_held_and_not_answered(
    writer: Writer, insurer_a: RegisteredInsurer, sessions: sessionmaker[Session]
) -> None:
    member = register(writer, insurer_a, MISLINKED)
    linkage = member["Linkage"]
    assert (linkage["Status"], linkage["Answered"]) == ("held", False)
    assert linkage["DifferingItems"] == ["Name", "Sex1"]
    found = RegistryQualificationSource(sessions).qualifications_of(ref(7))
    assert found.qualifications == ()
    (held,) = found.held
    assert (held.qualification_id, held.differing) == (member["QualificationId"], ("Name", "Sex1"))
    assert events(sessions, member["QualificationId"]) == [("linked", "held")]


def test_a_my_number_the_issuer_does_not_know_is_held(
    writer: Writer, insurer_a: RegisteredInsurer, resident_register: TestResidents
) -> None:
    resident_register.forget(my_number(8))
    linkage = register(writer, insurer_a, member_body(8))["Linkage"]
    assert (linkage["Status"], linkage["PersonKnownToIssuer"]) == ("held", False)
    assert linkage["DifferingItems"] == ["Name", "Birthdate", "Sex1", "Address"]


def test_the_insurers_report_names_the_line_and_items_never_the_values(
    writer: Writer, insurer_a: RegisteredInsurer, insurer_b: RegisteredInsurer
) -> None:
    register(writer, insurer_a, member_body(1))
    held = register(writer, insurer_a, MISLINKED)
    register(writer, insurer_b, member_body(9, Birthdate="19810401"))
    response = writer.client.get("/v1/linkage/held", headers=insurer_a.headers)
    assert response.status_code == 200
    (line,) = response.json()["Held"]
    assert line["QualificationId"] == held["QualificationId"]
    assert line["InsuredIdentificationNumber"] == MISLINKED["InsuredIdentificationNumber"]
    assert line["Linkage"]["DifferingItems"] == ["Name", "Sex1"]
    assert line["ConfirmedBy"] == []
    for value in ("佐藤", "サトウ", "山田", my_number(7)):
        assert value not in response.text
    # Another insurer's held row is not in this insurer's report.
    other = writer.client.get("/v1/linkage/held", headers=insurer_b.headers).json()["Held"]
    assert [h["Linkage"]["DifferingItems"] for h in other] == [["Birthdate"]]


def test_a_correction_that_matches_releases_the_hold(
    writer: Writer, insurer_a: RegisteredInsurer, sessions: sessionmaker[Session]
) -> None:
    held = register(writer, insurer_a, MISLINKED)
    qid = held["QualificationId"]
    corrected = writer.patch(
        f"/v1/members/{qid}", insurer_a, {"Name": "山田 太郎", "NameKana": "ﾔﾏﾀﾞ ﾀﾛｳ", "Sex1": "1"}
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["Linkage"]["Status"] == "matched"
    found = RegistryQualificationSource(sessions).qualifications_of(ref(7))
    assert [q.qualification_id for q in found.qualifications] == [qid]
    assert events(sessions, qid) == [("linked", "held"), ("rematched", "matched")]


def test_a_correction_of_the_my_number_moves_the_linkage_and_tells_the_first_person(
    writer: Writer,
    insurer_a: RegisteredInsurer,
    sessions: sessionmaker[Session],
    resident_register: TestResidents,
) -> None:
    # 佐藤 花子 is member 11 to the issuer; the insurer typed member 7's number.
    qid = register(writer, insurer_a, MISLINKED)["QualificationId"]
    resident_register.know(member_body(11, Name="佐藤　花子", NameKana="サトウ　ハナコ", Sex1="2"))
    moved = writer.patch(f"/v1/members/{qid}", insurer_a, {"MyNumber": my_number(11)})
    assert moved.status_code == 200, moved.text
    assert moved.json()["Linkage"]["Status"] == "matched"
    source = RegistryQualificationSource(sessions)
    assert source.qualifications_of(ref(7)).held == ()
    first = source.linkage_history(ref(7))
    assert [e.event for e in first] == ["linked", "unlinked"]
    # The first person's history names only their own last 4 digits, never the new holder's.
    assert [e.my_number_last4 for e in first] == [my_number(7)[-4:], my_number(7)[-4:]]
    second = source.linkage_history(ref(11))
    assert [(e.event, e.state, e.my_number_last4) for e in second] == [
        ("rematched", "matched", my_number(11)[-4:])
    ]


def test_two_distinct_users_release_a_held_linkage_one_cannot(
    writer: Writer, insurer_a: RegisteredInsurer, sessions: sessionmaker[Session]
) -> None:
    qid = register(writer, insurer_a, MISLINKED)["QualificationId"]
    path = f"/v1/members/{qid}/linkage/confirmations"
    first = writer.post(path, insurer_a, None)
    assert first.status_code == 200, first.text
    assert (first.json()["Released"], first.json()["Linkage"]["Status"]) == (False, "held")
    again = writer.post(path, insurer_a, None)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "R3009")
    source = RegistryQualificationSource(sessions)
    assert source.qualifications_of(ref(7)).qualifications == ()
    second = writer.post(path, second_user(sessions, insurer_a), None)
    assert second.status_code == 200, second.text
    body = second.json()
    assert (body["Released"], body["Linkage"]["Status"]) == (True, "confirmed")
    assert len(body["ConfirmedBy"]) == 2
    assert [q.qualification_id for q in source.qualifications_of(ref(7)).qualifications] == [qid]
    assert events(sessions, qid) == [
        ("linked", "held"), ("confirmed", "held"), ("confirmed", "held"),
        ("released", "confirmed"),
    ]  # fmt: skip
    not_held = writer.post(path, insurer_a, None)
    assert (not_held.status_code, not_held.json()["error"]["code"]) == (409, "R3008")


def test_a_later_mismatching_correction_holds_again_and_old_confirmations_do_not_count(
    writer: Writer, insurer_a: RegisteredInsurer, sessions: sessionmaker[Session]
) -> None:
    qid = register(writer, insurer_a, MISLINKED)["QualificationId"]
    path = f"/v1/members/{qid}/linkage/confirmations"
    other = second_user(sessions, insurer_a)
    writer.post(path, insurer_a, None)
    writer.post(path, other, None)
    changed = writer.patch(f"/v1/members/{qid}", insurer_a, {"Birthdate": "19800402"})
    assert changed.json()["Linkage"]["Status"] == "held"
    assert changed.json()["Linkage"]["DifferingItems"] == ["Name", "Birthdate", "Sex1"]
    once = writer.post(path, insurer_a, None).json()
    assert (once["Released"], len(once["ConfirmedBy"])) == (False, 1)


def test_a_correction_outside_the_four_items_leaves_the_hold(
    writer: Writer, insurer_a: RegisteredInsurer
) -> None:
    qid = register(writer, insurer_a, MISLINKED)["QualificationId"]
    changed = writer.patch(
        f"/v1/members/{qid}", insurer_a, {"InsuredPartialContributionRatio": "020"}
    )
    assert changed.json()["Linkage"]["Status"] == "held"


def test_the_operator_cannot_confirm(
    writer: Writer, insurer_a: RegisteredInsurer, sessions: sessionmaker[Session]
) -> None:
    qid = register(writer, insurer_a, MISLINKED)["QualificationId"]
    with transaction(sessions) as session, pytest.raises(LinkageConfirmationByOperator):
        confirm_linkage(
            session=session, insurer=insurer_a.info, qualification_id=qid,
            actor=Actor.operator("tests"),
        )  # fmt: skip


def test_no_linkage_answer_or_log_line_holds_a_name_or_a_my_number(
    writer: Writer,
    insurer_a: RegisteredInsurer,
    sessions: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    qid = register(writer, insurer_a, MISLINKED)["QualificationId"]
    texts = [writer.post(f"/v1/members/{qid}/linkage/confirmations", insurer_a, None).text]
    texts.append(writer.client.get("/v1/linkage/held", headers=insurer_a.headers).text)
    for entry in RegistryQualificationSource(sessions).linkage_history(ref(7)):
        texts.append(repr(entry))
    texts.append(caplog.text)
    for text in texts:
        for value in ("佐藤", "サトウ", "ｻﾄｳ", "山田", my_number(7)):
            assert value not in text
    assert "linkage held: qualification" in caplog.text


CRASH_BEFORE_COMMIT = textwrap.dedent(
    """
    import os, signal, sys
    from insurer_registry.db import make_engine, make_session_factory
    from insurer_registry.insurers.service import get_insurer
    from insurer_registry.linkage.service import confirm_linkage
    from insurer_registry.members.audit import Actor
    from onshi_kernel.numbers import InsurerNumber

    sessions = make_session_factory(make_engine(sys.argv[1]))
    session = sessions()
    session.begin()
    insurer = get_insurer(session=session, number=InsurerNumber(sys.argv[2]))
    done = confirm_linkage(session=session, insurer=insurer, qualification_id=int(sys.argv[3]),
                           actor=Actor(label="credential:ins_second"))
    assert done.linkage.state.value == "confirmed", done
    print("released, not committed", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_a_crash_between_the_release_and_its_commit_leaves_it_held_and_loses_nothing(
    writer: Writer,
    insurer_a: RegisteredInsurer,
    sessions: sessionmaker[Session],
    database_url: str,
) -> None:
    qid = register(writer, insurer_a, MISLINKED)["QualificationId"]
    path = f"/v1/members/{qid}/linkage/confirmations"
    assert writer.post(path, insurer_a, None).status_code == 200
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_BEFORE_COMMIT, database_url, insurer_a.info.number.digits,
         str(qid)],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )  # fmt: skip
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert "released, not committed" in crashed.stdout
    # Nothing answered that should be held; the first confirmation is still there.
    source = RegistryQualificationSource(sessions)
    assert source.qualifications_of(ref(7)).qualifications == ()
    assert events(sessions, qid) == [("linked", "held"), ("confirmed", "held")]
    with sessions() as session:
        assert session.scalar(select(Qualification.linkage).where(Qualification.id == qid)) == (
            "held"
        )
        assert session.scalar(select(func.count()).select_from(LinkageEvent)) == 2
    # The second user confirms again, for real this time.
    released = writer.post(path, second_user(sessions, insurer_a), None).json()
    assert released["Released"] is True
    assert [q.qualification_id for q in source.qualifications_of(ref(7)).qualifications] == [qid]
