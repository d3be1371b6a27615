"""Results of card checks at the front desk, as files for the receipt computer
(docs/file-interface.md: `OQSsiquc01res_face_<unique>_<YYYYMMDDHHmmss>.xml` in `face/`)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

from clinic_client.connector.answers import eligibility_answer_file
from clinic_client.connector.names import face_result_name
from clinic_client.connector.spool import Spool
from clinic_client.connector.xmlcodec import WireEncoding
from onshi_kernel.japan_time import timestamp
from qualification_server.contract.schemas import EligibilityAnswer

_TIMESTAMP = re.compile(r"[0-9]{14}")


def write_face_result(
    directory: Path, answer: EligibilityAnswer, *, encoding: str = "utf-8"
) -> Path:
    """Publish the answer of a card check as `directory/face/OQSsiquc01res_face_<unique>
    _<YYYYMMDDHHmmss>.xml` and return its path. The file appears whole or not at all.

    `encoding` is "utf-8" or "shift_jis" (the receipt computer's choice, as for its
    requests); anything else is a `ValueError`. The time is the answer's
    `ProcessExecutionTime` (now, if the answer's is not 14 digits) and comes last, as
    clinic software that watches `face/` expects; the unique part keeps two checks in the
    same second apart.
    """
    wire = WireEncoding.from_label(encoding)
    stamp = answer.MessageHeader.ProcessExecutionTime
    if not _TIMESTAMP.fullmatch(stamp):
        stamp = timestamp(dt.datetime.now(dt.UTC))
    name = face_result_name(unique=uuid.uuid4().hex[:12], timestamp=stamp)
    return Spool.open(directory).write_face(name, eligibility_answer_file(answer, wire))
