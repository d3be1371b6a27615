"""The receipt-computer connector (docs/file-interface.md): request files in `req/`,
answers in `res/`, card-check results in `face/`. See README.md in this folder for the
folder protocol."""

from __future__ import annotations

from clinic_client.connector.face import write_face_result
from clinic_client.connector.service import Connector, run_connector
from clinic_client.connector.spool import ConnectorBusy

__all__ = ["Connector", "ConnectorBusy", "run_connector", "write_face_result"]
