"""Whether the trust anchors can answer a card check: every configured CA has a CRL that is
current. A CA without one, or with one past its nextUpdate, fails every check of its cards
closed (Q1006, `validation.check_revocation`), so `/readyz` says so, naming the CA, instead of
taking traffic it can only refuse."""

from __future__ import annotations

import datetime as dt

from qualification_server.trust.validation import TrustAnchors, TrustedCa

# What `check_revocation` allows for a CRL dated a little ahead of the server's clock.
CLOCK_SKEW = dt.timedelta(minutes=5)


def crl_problem(ca: TrustedCa, at: dt.datetime) -> str | None:
    """Why `ca`'s certificates cannot be checked at `at`, or None when its CRL is current:
    the same rules as `check_revocation`, said with the CA's subject for IT."""
    subject = ca.certificate.subject.rfc4514_string()
    crl = ca.crl
    if crl is None:
        return f"no CRL loaded for {subject}"
    next_update = crl.next_update_utc
    if next_update is None:
        return f"the CRL of {subject} has no nextUpdate"
    if at > next_update:
        return f"the CRL of {subject} is stale (nextUpdate {next_update.isoformat()})"
    if at < crl.last_update_utc - CLOCK_SKEW:
        return f"the CRL of {subject} is dated in the future"
    return None


def crl_problems(anchors: TrustAnchors, at: dt.datetime) -> list[str]:
    """Every CA whose CRL is missing or not current at `at`, each in one line."""
    return [problem for ca in anchors.cas if (problem := crl_problem(ca, at)) is not None]
