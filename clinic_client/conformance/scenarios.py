"""The catalogue: each scenario states the answer the spec expects and checks it.

A scenario raises `Unexpected(reason)` when the server answers otherwise, and `NotRun` when
the kit was not given what it needs (say, a registered face-check device).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from card_reader.core.errors import PinBlocked, PinError, PinNotIssued
from card_reader.core.jpki import JpkiFile, JpkiSession
from card_reader.emulator.card import EmulatedCard
from card_reader.emulator.image import load_image, save_image
from card_reader.issuance.issuer import Issuer
from card_reader.issuance.residents import Resident
from card_reader.transports.inprocess import InProcessConnection
from clinic_client.api import QualificationClient, ServerRefused, challenge_digest
from clinic_client.conformance.insurer_api import InsurerAccess, InsurerApi, Reply
from clinic_client.conformance.kit import (
    EXPIRED_PHONE,
    FACE_CARD,
    FAR_LOSS,
    GRACE_CARD,
    INSURER_A,
    INSURER_B,
    KOKUHO_SYMBOL,
    MISLINKED_NUMBER,
    OTHER_KANA,
    OTHER_NAME,
    PEOPLE,
    PHONE,
    PIN,
    Run,
    member_row,
    person,
)
from onshi_kernel.japan_time import japan_today, yyyymmdd
from qualification_server.contract.codes import Code
from qualification_server.contract.lockouts import FACE_FAILURE_LIMIT, FaceFailureAnswer
from qualification_server.contract.presence import Method, device_message, face_failure_message
from qualification_server.contract.schemas import Consents, EligibilityAnswer, InsuredCardQuery

BATCH_DEADLINE_S = 60.0  # a server looks a three-entry batch up well within this
RELOAD_WAIT_S = 10.0  # how long a server may take to notice a new CRL or directory


class Unexpected(Exception):
    """The server's answer is not the one the spec expects."""


class NotRun(Exception):
    """The scenario needs something the kit was not given."""


@dataclass
class Context:
    """What the scenarios of one run share: the client, this run's cards (`Kit.start_run`),
    the kit's issuer, which revokes and renews them, and its residents; the registry's
    insurer API when the kit was given it (the insurer-side scenarios need it)."""

    client: QualificationClient
    server_url: str
    run: Run
    issuer: Issuer
    residents: Mapping[str, Resident]
    device: tuple[str, Ed25519PrivateKey] | None = None
    insurer: InsurerAccess | None = None

    @contextlib.contextmanager
    def insurer_api(self, *, second: bool = False) -> Iterator[InsurerApi]:
        """INSURER_A's API with the first (or the second) credential the kit was given."""
        if self.insurer is None:
            raise NotRun(
                "give --registry, --insurer-credential and --second-insurer-credential "
                f"(the registry's insurer API and two credentials of {INSURER_A})"
            )
        access = self.insurer
        with InsurerApi(
            access.url, access.second_credential if second else access.credential
        ) as api:
            yield api

    def session(self, label: str, *, rogue: bool = False) -> JpkiSession:
        path = self.run.rogue_card() if rogue else self.run.card(label)
        card = EmulatedCard(load_image(path), on_change=lambda i: save_image(path, i))
        return JpkiSession(InProcessConnection(card))

    def check(
        self,
        label: str,
        *,
        consents: Consents | None = None,
        confirmation_date: str | None = None,
        rogue: bool = False,
    ) -> EligibilityAnswer:
        session = self.session(label, rogue=rogue)
        challenge = self.client.challenge()
        # a card's certificate is read first, a smartphone's after the PIN
        certificate, signature = session.prove_presence(PIN, challenge_digest(challenge))
        return self.client.check_card(
            challenge=challenge,
            certificate=certificate,
            proof={"method": "pin", "signature": base64.b64encode(signature).decode()},
            consents=consents,
            confirmation_date=confirmation_date,
        )

    def portal_proof(self, label: str, purpose: str) -> dict[str, str]:
        session = self.session(label)
        certificate = session.read_auth_certificate()
        response = httpx.post(
            f"{self.server_url}/portal/v1/challenges", json={"purpose": purpose}, timeout=10
        )
        expect(response.status_code == 200, f"portal challenge: HTTP {response.status_code}")
        token = base64.b64decode(response.json()["challenge"])
        signature = session.authenticate(PIN, hashlib.sha256(token).digest())
        return {
            "challenge": base64.b64encode(token).decode(),
            "certificate": base64.b64encode(certificate).decode(),
            "signature": base64.b64encode(signature).decode(),
        }


def expect(condition: bool, reason: str) -> None:
    if not condition:
        raise Unexpected(reason)


def expect_refusal(code: str, call: Callable[[], object]) -> ServerRefused:
    try:
        answer = call()
    except ServerRefused as refusal:
        expect(refusal.code == code, f"expected refusal {code}, got {refusal.code}")
        return refusal
    validity = getattr(getattr(answer, "MessageBody", None), "QualificationValidity", "?")
    raise Unexpected(f"expected refusal {code}, got an answer (QualificationValidity {validity})")


def validity(answer: EligibilityAnswer, expected: str) -> None:
    got = answer.MessageBody.QualificationValidity
    expect(got == expected, f"expected QualificationValidity {expected}, got {got}")


def results(answer: EligibilityAnswer) -> list:  # type: ignore[type-arg]
    body = answer.MessageBody
    return list(body.ResultList.ResultOfQualificationConfirmation) if body.ResultList else []


# --- the scenarios ---------------------------------------------------------------------------


def registration(ctx: Context) -> None:
    """Every registered kit resident completes 初回登録 at the portal (card, PIN, consent):
    answered registered, not already registered. A registration a run before made is
    withdrawn first (利用登録の解除 at the portal, card and PIN), so each run registers anew."""
    for p in PEOPLE:
        if p.registered and p.label != "expired":
            _register_at_portal(ctx, p.label)


def _register_at_portal(ctx: Context, label: str) -> None:
    """Withdraw the person's registration (if any) and register them anew at the portal."""
    withdrawn = httpx.post(
        f"{ctx.server_url}/portal/v1/unregister",
        json={"proof": ctx.portal_proof(label, "portal")},
        timeout=10,
    )
    expect(withdrawn.status_code == 200, f"{label}: unregister: HTTP "
           f"{withdrawn.status_code} {withdrawn.text[:200]}")  # fmt: skip
    response = httpx.post(
        f"{ctx.server_url}/portal/v1/registrations",
        json={"proof": ctx.portal_proof(label, "registration"), "consent": True},
        timeout=10,
    )
    expect(response.status_code == 200, f"{label}: HTTP {response.status_code} "
           f"{response.text[:200]}")  # fmt: skip
    answer = response.json()
    expect(answer.get("registered") is True and answer.get("already_registered") is False,
           f"{label}: registration answered {answer}")  # fmt: skip


def pin_mode(ctx: Context) -> None:
    """PIN mode: validity 1, the kit's insurer and insured number, the answer's fields."""
    answer = ctx.check("valid")
    validity(answer, "1")
    (r,) = results(answer)
    expect(r.InsurerNumber == INSURER_A, f"InsurerNumber {r.InsurerNumber!r}")
    expect(r.InsuredIdentificationNumber == "9101", f"number {r.InsuredIdentificationNumber!r}")
    # 氏名 answers with a full-width space between family and given name, as real answers do
    expect(r.Name == "適合　一郎" and r.Birthdate == "19800401", "Name or Birthdate differ")
    expect(r.InsuredPartialContributionRatio == "030", "InsuredPartialContributionRatio not 030")


def face_mode(ctx: Context) -> None:
    """Face mode: the registered device's proof is accepted (validity 1)."""
    validity(_device_check(ctx, Method.FACE), "1")


def _device_check(
    ctx: Context, method: Method, passcode: str | None = None, *, label: str = "valid"
) -> EligibilityAnswer:
    """A face or visual check of a kit card ("valid"), proved by the kit's device."""
    if ctx.device is None:
        raise NotRun("give --device-id (the kit's device key registered for the clinic)")
    device_id, key = ctx.device
    certificate = ctx.session(label).read_auth_certificate()
    challenge = ctx.client.challenge()
    signature = key.sign(device_message(challenge, certificate, method))
    proof = {"method": method.value, "device_id": device_id,
             "signature": base64.b64encode(signature).decode()}  # fmt: skip
    if passcode is not None:
        proof["passcode"] = passcode
    return ctx.client.check_card(challenge=challenge, certificate=certificate, proof=proof)


def _report_face_failure(ctx: Context) -> FaceFailureAnswer:
    if ctx.device is None:
        raise NotRun("give --device-id (the kit's device key registered for the clinic)")
    device_id, key = ctx.device
    certificate = ctx.session("valid").read_auth_certificate()
    challenge = ctx.client.challenge()
    return ctx.client.report_face_failure(
        challenge=challenge, certificate=certificate, device_id=device_id,
        signature=key.sign(face_failure_message(challenge, certificate)),
    )  # fmt: skip


def _passcode(ctx: Context) -> str:
    return ctx.client.visual_passcode().MessageBody.VisualConfirmationPasscode


def face_lockout(ctx: Context) -> None:
    """Failed face matches reported by the device count per card (Q2009 with the count): from
    the 10th, face checks and reports are refused (Q2008); a visual check is answered but
    unlocks nothing; an answered PIN check unlocks face mode."""
    validity(ctx.check("valid"), "1")  # starts the row afresh, whatever a run before left
    for n in range(1, FACE_FAILURE_LIMIT + 1):
        counted = _report_face_failure(ctx)
        got = (counted.failures, counted.locked)
        expect(got == (n, n == FACE_FAILURE_LIMIT), f"report {n}: answered {got}")
    expect_refusal(Code.FACE_LOCKED, lambda: _device_check(ctx, Method.FACE))
    expect_refusal(Code.FACE_LOCKED, lambda: _report_face_failure(ctx))
    validity(_device_check(ctx, Method.VISUAL, _passcode(ctx)), "1")
    expect_refusal(Code.FACE_LOCKED, lambda: _device_check(ctx, Method.FACE))
    validity(ctx.check("valid"), "1")
    validity(_device_check(ctx, Method.FACE), "1")


def visual_passcode(ctx: Context) -> None:
    """目視確認用パスコード (OQS-IF-049/050): 8 digits for one visual check; the check with it
    is answered, again Q2013; without one Q2010; one never issued Q2011."""
    code = _passcode(ctx)
    expect(len(code) == 8 and code.isdigit(), f"passcode {code!r}")
    validity(_device_check(ctx, Method.VISUAL, code), "1")
    expect_refusal(Code.PASSCODE_REUSED, lambda: _device_check(ctx, Method.VISUAL, code))
    expect_refusal(Code.PASSCODE_MISSING, lambda: _device_check(ctx, Method.VISUAL))
    unknown = f"{(int(_passcode(ctx)) + 1) % 10**8:08d}"
    expect_refusal(Code.PASSCODE_UNKNOWN, lambda: _device_check(ctx, Method.VISUAL, unknown))


def smartphone(ctx: Context) -> None:
    """A smartphone's certificate (スマホ用電子証明書), read after its PIN, is answered as its
    holder's card is, marked CredentialClassification 2; the card's answer is marked 1."""
    phone = ctx.check(PHONE)
    validity(phone, "1")
    got = phone.MessageHeader.CredentialClassification
    expect(got == "2", f"a smartphone's check answered CredentialClassification {got}")
    card = ctx.check("valid").MessageHeader.CredentialClassification
    expect(card == "1", f"a card's check answered CredentialClassification {card}")


def smartphone_no_grace(ctx: Context) -> None:
    """A smartphone's certificate that expired a day ago gets no grace: Q1003, where the
    card of the same person, expired as long, is answered in grace (scenario `grace`)."""
    expect_refusal(Code.CERTIFICATE_EXPIRED, lambda: ctx.check(EXPIRED_PHONE))


def face_card(ctx: Context) -> None:
    """A 顔認証マイナンバーカード refuses a PIN (the card: 69 83, no PIN was issued) and its
    holder is answered by a face check at the registered device."""
    session = ctx.session(FACE_CARD)
    try:
        session.verify_auth_pin(PIN)
    except PinNotIssued:
        pass
    else:
        raise Unexpected("the face card accepted a PIN")
    validity(_device_check(ctx, Method.FACE, label=FACE_CARD), "1")


def wrong_pin(ctx: Context) -> None:
    """A wrong PIN is refused by the card with 2 tries left; the right one still works."""
    session = ctx.session("blocked")
    try:
        session.verify_auth_pin("0000")
    except PinError as exc:
        expect(exc.tries_left == 2, f"expected 2 tries left, got {exc.tries_left}")
    else:
        raise Unexpected("the card accepted a wrong PIN")
    session.verify_auth_pin(PIN)


def blocked_pin(ctx: Context) -> None:
    """Three wrong PINs block the card; then even the right PIN is refused."""
    session = ctx.session("blocked")
    for _ in range(3):
        with contextlib.suppress(PinError, PinBlocked):  # the refusal is what we want here
            session.verify_auth_pin("0000")
    try:
        session.verify_auth_pin(PIN)
    except PinBlocked:
        return
    raise Unexpected("the right PIN was accepted after three wrong ones")


def expired(ctx: Context) -> None:
    """A certificate expired years ago, past its three months' grace: refusal Q1003."""
    expect_refusal(Code.CERTIFICATE_EXPIRED, lambda: ctx.check("expired"))


def grace(ctx: Context) -> None:
    """A certificate expired a day before the run, in its three months' grace:
    answered (validity 1) with ProcessingResultStatus 1 and ProcessingResultCode Q1007, its
    message, and every viewing consent refused though all were asked for."""
    asked = Consents(medication=True, health_checkups=True, diagnosis=True, operation=True)
    answer = ctx.check(GRACE_CARD, consents=asked)
    validity(answer, "1")
    body = answer.MessageBody
    expect(
        body.ProcessingResultStatus == "1", f"ProcessingResultStatus {body.ProcessingResultStatus}"
    )
    expect(body.ProcessingResultCode == Code.ANSWERED_IN_GRACE,
           f"ProcessingResultCode {body.ProcessingResultCode!r}")  # fmt: skip
    expect(bool(body.ProcessingResultMessage), "no ProcessingResultMessage")
    (r,) = results(answer)
    flags = (r.PharmacistsInfoConsFlg, r.SpecificHealthCheckupsInfoConsFlg,
             r.DiagnosisInfoConsFlg, r.OperationInfoConsFlg)  # fmt: skip
    expect(flags == ("0", "0", "0", "0"), f"viewing consent flags {flags}")
    expect(r.PharmacistsInfoAvailableTime is None, "PharmacistsInfoAvailableTime present")


def revoked(ctx: Context) -> None:
    """A revoked certificate (kit CRL updated): refusal Q1005 once the server reloads it."""
    der = load_image(ctx.run.card("revoked")).jpki_files[JpkiFile.AUTH_CERT]
    serial = x509.load_der_x509_certificate(der).serial_number
    if ctx.issuer.entry_for_serial(serial).status != "revoked":
        ctx.issuer.revoke(serial)
    deadline = time.monotonic() + RELOAD_WAIT_S
    while True:
        try:
            expect_refusal(Code.CERTIFICATE_REVOKED, lambda: ctx.check("revoked"))
            return
        except Unexpected:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def untrusted_ca(ctx: Context) -> None:
    """A card from a CA the server does not trust: refusal Q1002."""
    expect_refusal(Code.UNTRUSTED_CERTIFICATE, lambda: ctx.check("valid", rogue=True))


def forged_signature(ctx: Context) -> None:
    """A certificate with another card's signature: refusal Q2005."""
    certificate = ctx.session("valid").read_auth_certificate()
    challenge = ctx.client.challenge()
    signature = ctx.session("several").authenticate(PIN, challenge_digest(challenge))
    proof = {"method": "pin", "signature": base64.b64encode(signature).decode()}
    expect_refusal(
        Code.PROOF_INVALID,
        lambda: ctx.client.check_card(challenge=challenge, certificate=certificate, proof=proof),
    )


def replayed_challenge(ctx: Context) -> None:
    """The same signed challenge twice: the second is refused with Q2003."""
    session = ctx.session("valid")
    certificate = session.read_auth_certificate()
    challenge = ctx.client.challenge()
    signature = session.authenticate(PIN, challenge_digest(challenge))
    proof = {"method": "pin", "signature": base64.b64encode(signature).decode()}
    validity(ctx.client.check_card(challenge=challenge, certificate=certificate, proof=proof), "1")
    expect_refusal(
        Code.CHALLENGE_REPLAYED,
        lambda: ctx.client.check_card(challenge=challenge, certificate=certificate, proof=proof),
    )


def unregistered(ctx: Context) -> None:
    """A card whose holder never registered: refusal Q3001."""
    expect_refusal(Code.CARD_NOT_REGISTERED, lambda: ctx.check("unregistered"))


def lost(ctx: Context) -> None:
    """Asked as of a day after the loss: QualificationValidity 2 with the loss date."""
    answer = ctx.check("ending", confirmation_date="21000102")
    validity(answer, "2")
    (r,) = results(answer)
    expect(r.DisqualificationDate == FAR_LOSS, f"DisqualificationDate {r.DisqualificationDate}")


def newer(ctx: Context) -> None:
    """The old insured number of someone who changed insurer: QualificationValidity 3."""
    query = InsuredCardQuery(InsurerNumber=INSURER_B.rjust(8), InsuredCardSymbol=KOKUHO_SYMBOL,
                             InsuredIdentificationNumber="9401", Birthdate="19750909")  # fmt: skip
    validity(ctx.client.lookup(query), "3")


def several(ctx: Context) -> None:
    """Two insurers at once: QualificationValidity 5 with both listed."""
    answer = ctx.check("several")
    validity(answer, "5")
    numbers = sorted(r.InsuredIdentificationNumber for r in results(answer))
    expect(numbers == ["9201", "9202"], f"listed {numbers}")


def renewed(ctx: Context) -> None:
    """After renewal (new serial, same person) the card keeps working."""
    ctx.issuer.renew(ctx.run.card("renewed"))
    deadline = time.monotonic() + RELOAD_WAIT_S
    while True:
        try:
            validity(ctx.check("renewed"), "1")
            return
        except (Unexpected, ServerRefused):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def consent_given(ctx: Context) -> None:
    """With consent the 限度額 information is present."""
    (r,) = results(ctx.check("valid", consents=Consents(limit_application=True)))
    expect(r.LimitApplicationCertificateRelatedConsFlg == "1", "consent flag not 1")
    info = r.LimitApplicationCertificateRelatedInfo
    expect(info is not None and info.LimitApplicationCertificateClassificationFlag == "A03",
           "LimitApplicationCertificateRelatedInfo missing or wrong")  # fmt: skip


def consent_withheld(ctx: Context) -> None:
    """Without consent the 限度額 information is absent and the flag says 0."""
    (r,) = results(ctx.check("valid"))
    expect(r.LimitApplicationCertificateRelatedConsFlg == "0", "consent flag not 0")
    expect(r.LimitApplicationCertificateRelatedInfo is None, "限度額 information present")


def insurer_change(ctx: Context) -> None:
    """After a job change the card answers with the new insurer."""
    answer = ctx.check("changed")
    validity(answer, "1")
    (r,) = results(answer)
    expect((r.InsurerNumber, r.InsuredIdentificationNumber) == (INSURER_A, "9402"),
           f"answered {r.InsurerNumber} {r.InsuredIdentificationNumber}")  # fmt: skip


def insured_card_lookup(ctx: Context) -> None:
    """個別照会 as receipt computers send it (no 枝番): the right birth date answers 1, a wrong
    one Q4001."""
    query = InsuredCardQuery(InsurerNumber=INSURER_A, InsuredIdentificationNumber="9101",
                             Birthdate="19800401")  # fmt: skip
    validity(ctx.client.lookup(query), "1")
    wrong = query.model_copy(update={"Birthdate": "19800402"})
    expect_refusal(Code.INSURED_NUMBER_NOT_MATCHED, lambda: ctx.client.lookup(wrong))


def batch(ctx: Context) -> None:
    """一括照会 in two steps: the submission answers a 16-digit ReceptionNumber at once; the
    fetch answers 処理中 (SegmentOfResult 2) or the result, which within a minute holds one
    unit per entry in order, two answered and one refused, counted in the header; an unknown
    reception number is Q4004."""

    def q(number: str, birth: str) -> InsuredCardQuery:
        return InsuredCardQuery(InsurerNumber=INSURER_A, InsuredIdentificationNumber=number,
                                Birthdate=birth)  # fmt: skip

    entries = [q("9101", "19800401"), q("9201", "19900615"), q("0000", "20000101")]
    receipt = ctx.client.submit_batch(entries)
    number = receipt.MessageHeader.ReceptionNumber
    expect(receipt.MessageHeader.NumberOfProcessingResult == 3,
           f"receipt counts {receipt.MessageHeader.NumberOfProcessingResult} entries")  # fmt: skip
    deadline = time.monotonic() + BATCH_DEADLINE_S
    while (result := ctx.client.fetch_batch(number)).MessageHeader.SegmentOfResult == "2":
        expect(not result.BulkConfirmUnit, "処理中 with units")
        expect(time.monotonic() < deadline, f"still 処理中 after {BATCH_DEADLINE_S} s")
        time.sleep(0.2)
    h = result.MessageHeader
    counts = (h.NumberOfProcessingResult, h.NumberOfNormalProcessing, h.NumberOfError)
    expect(counts == (3, 2, 1), f"header counts {counts}")
    echoed = [
        u.QualificationConfirmSearchInfo.InsuredIdentificationNumber for u in result.BulkConfirmUnit
    ]
    expect(echoed == ["9101", "9201", "0000"], f"units in the order {echoed}")
    unknown = "0" * 16 if number != "0" * 16 else "1" * 16
    expect_refusal(Code.BATCH_UNKNOWN, lambda: ctx.client.fetch_batch(unknown))


def reference_number(ctx: Context) -> None:
    """照会番号登録: the clinic's own number for a patient comes back as ReferenceNumber in
    its 個別照会 and card check; a malformed number is refused as a schema mismatch."""
    query = InsuredCardQuery(InsurerNumber=INSURER_A, InsuredIdentificationNumber="9101",
                             Birthdate="19800401")  # fmt: skip
    registered = ctx.client.register_reference_number(query, "K0001")
    expect(registered.MessageBody.ProcessingResultStatus == "1", "registration not answered 1")
    (looked_up,) = results(ctx.client.lookup(query))
    expect(
        looked_up.ReferenceNumber == "K0001",
        f"個別照会 ReferenceNumber {looked_up.ReferenceNumber!r}",
    )
    (checked,) = results(ctx.check("valid"))
    expect(
        checked.ReferenceNumber == "K0001",
        f"card check ReferenceNumber {checked.ReferenceNumber!r}",
    )


def access_records(ctx: Context) -> None:
    """The person sees the clinic's lookups of their data (portal, with the card)."""
    proof = ctx.portal_proof("valid", "portal")
    response = httpx.post(f"{ctx.server_url}/portal/v1/access-history", json={"proof": proof},
                          timeout=10)  # fmt: skip
    expect(response.status_code == 200, f"HTTP {response.status_code}")
    lookups = [e for e in response.json()["entries"] if e["clinic_code"]]
    expect(len(lookups) >= 3, f"{len(lookups)} clinic lookups visible, expected at least 3")


def held_linkage(ctx: Context) -> None:
    """A registration the issuer's four items contradict is held, not answered (the 2023
    case: INSURER_A registered insured number 9921 against the My Number of a resident the
    issuer names otherwise): the card check of that resident is Q3004, and so is a lookup by
    that insured number and birth date (the number exists, its holder is in doubt: not
    Q4001)."""
    expect_refusal(Code.QUALIFICATION_HELD, lambda: ctx.check("mislinked"))
    birth = yyyymmdd(person("mislinked").birth)
    query = InsuredCardQuery(InsurerNumber=INSURER_A, InsuredIdentificationNumber=MISLINKED_NUMBER,
                             Birthdate=birth)  # fmt: skip
    expect_refusal(Code.QUALIFICATION_HELD, lambda: ctx.client.lookup(query))


# The insurer-side scenarios register a qualification for a kit resident in every run: its
# QualificationDate is the run's day, its insured number is made from the time (no two runs
# share one, even of a kit made anew for the same registry), and the scenario ends it with a
# loss on that same day. An empty period is never current and overlaps nothing, so the next
# run, on the same day or later, registers the person afresh; one a failed run left open is
# ended the same way before (`_end_earlier`).
LINKAGE_LOSS_REASON = "99"  # その他


def _end_earlier(api: InsurerApi, resident: Resident) -> None:
    """End, on the day they began, the resident's qualifications at INSURER_A that an
    earlier run left open."""
    found = api.search({"MyNumber": resident.my_number})
    expect(found.status == 200, f"search by MyNumber: {found.describe()}")
    for member in found.body.get("Members", []):
        if member.get("DisqualificationDate") is None:
            _end_on_its_first_day(api, member)


def _end_on_its_first_day(api: InsurerApi, member: dict[str, Any]) -> None:
    ended = api.record_loss(
        member["QualificationId"], member["QualificationDate"], LINKAGE_LOSS_REASON
    )
    expect(ended.status == 200, f"loss of the run's qualification: {ended.describe()}")


def _register_mislinked(api: InsurerApi, resident: Resident, prefix: str) -> dict[str, Any]:
    """Register (insurer API) a qualification for `resident` under another person's name,
    from today: answered 201 and held, with Name among the differing items."""
    _end_earlier(api, resident)
    today = yyyymmdd(japan_today())
    number = prefix + dt.datetime.now(dt.UTC).strftime("%y%m%d%H%M%S")
    body = member_row(resident, INSURER_A, number, today, Name=OTHER_NAME, NameKana=OTHER_KANA)
    created = api.register(body)
    expect(created.status == 201, f"registration: {created.describe()}")
    linkage = created.body.get("Linkage", {})
    expect(linkage.get("Status") == "held", f"registered with Linkage.Status "
           f"{linkage.get('Status')!r}, expected held")  # fmt: skip
    expect("Name" in linkage.get("DifferingItems", []),
           f"DifferingItems {linkage.get('DifferingItems')}, expected Name among them")  # fmt: skip
    return created.body


def _answered_now(ctx: Context, label: str, member: dict[str, Any]) -> None:
    """Once answered, the resident registers at the portal and their card check answers the
    qualification (validity 1)."""
    _register_at_portal(ctx, label)
    answer = ctx.check(label)
    validity(answer, "1")
    (r,) = results(answer)
    number = member["InsuredIdentificationNumber"]
    expect((r.InsurerNumber, r.InsuredIdentificationNumber) == (INSURER_A, number),
           f"answered {r.InsurerNumber} {r.InsuredIdentificationNumber}")  # fmt: skip


def linkage_correction(ctx: Context) -> None:
    """An insurer registers (insurer API) a qualification for a resident under another name:
    held (Linkage.Status held, Name differing) and the card check is Q3004; its correction
    to the issuer's name (PATCH) matches and releases it (Status matched), and the card
    check answers it (validity 1). Needs --registry and the insurer credentials."""
    with ctx.insurer_api() as api:
        resident = ctx.residents["corrected"]
        member = _register_mislinked(api, resident, "7")
        expect_refusal(Code.QUALIFICATION_HELD, lambda: ctx.check("corrected"))
        corrected = api.correct(member["QualificationId"], {
            "Name": resident.name, "NameKana": resident.name_kana, "Version": member["Version"],
        })  # fmt: skip
        expect(corrected.status == 200, f"correction: {corrected.describe()}")
        status = corrected.body.get("Linkage", {}).get("Status")
        expect(status == "matched", f"corrected with Linkage.Status {status!r}, expected matched")
        _answered_now(ctx, "corrected", member)
        _end_on_its_first_day(api, member)


def linkage_release(ctx: Context) -> None:
    """A held registration (as in linkage-correction) confirmed by one of the insurer's
    users stays held (Q3004); the same user's second confirmation is refused R3009; a second
    user's confirmation releases it (Released, Status confirmed) and the card check answers
    it (validity 1). Needs --registry and two credentials of the insurer."""
    with ctx.insurer_api() as first, ctx.insurer_api(second=True) as second:
        member = _register_mislinked(first, ctx.residents["released"], "8")
        qualification = member["QualificationId"]
        expect_refusal(Code.QUALIFICATION_HELD, lambda: ctx.check("released"))
        _confirmed(first.confirm(qualification), released=False)
        expect_refusal(Code.QUALIFICATION_HELD, lambda: ctx.check("released"))
        again = first.confirm(qualification)
        expect((again.status, again.code) == (409, "R3009"),
               f"the same user's second confirmation: {again.describe()}, expected HTTP 409 "
               "R3009")  # fmt: skip
        _confirmed(second.confirm(qualification), released=True)
        _answered_now(ctx, "released", member)
        _end_on_its_first_day(first, member)


def _confirmed(reply: Reply, *, released: bool) -> None:
    expect(reply.status == 200, f"confirmation: {reply.describe()}")
    status = reply.body.get("Linkage", {}).get("Status")
    expected = "confirmed" if released else "held"
    expect((reply.body.get("Released"), status) == (released, expected),
           f"confirmation answered Released {reply.body.get('Released')}, Linkage.Status "
           f"{status!r}; expected {released}, {expected!r}")  # fmt: skip


@dataclass(frozen=True)
class Scenario:
    id: str
    run: Callable[[Context], None]

    @property
    def expectation(self) -> str:
        return (self.run.__doc__ or "").strip()


CATALOGUE = tuple(
    Scenario(name.replace("_", "-"), fn)
    for name, fn in (
        ("registration", registration),
        ("pin_mode", pin_mode),
        ("face_mode", face_mode),
        ("face_lockout", face_lockout),
        ("visual_passcode", visual_passcode),
        ("face_card", face_card),
        ("smartphone", smartphone),
        ("smartphone_no_grace", smartphone_no_grace),
        ("wrong_pin", wrong_pin),
        ("blocked_pin", blocked_pin),
        ("expired", expired),
        ("grace", grace),
        ("revoked", revoked),
        ("untrusted_ca", untrusted_ca),
        ("forged_signature", forged_signature),
        ("replayed_challenge", replayed_challenge),
        ("unregistered_card", unregistered),
        ("lost_qualification", lost),
        ("newer_qualification", newer),
        ("several_qualifications", several),
        ("renewed_certificate", renewed),
        ("consent_given", consent_given),
        ("consent_withheld", consent_withheld),
        ("insurer_change", insurer_change),
        ("insured_card_lookup", insured_card_lookup),
        ("batch_lookup", batch),
        ("reference_number", reference_number),
        ("access_records", access_records),
        ("held_linkage", held_linkage),
        ("linkage_correction", linkage_correction),
        ("linkage_release", linkage_release),
    )
)
