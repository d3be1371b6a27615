"""The server's tables. Personal data stays in the insurer registry; here are clinics, their
devices, used challenges, registrations (certificate holder → registered), the access log,
the rate-limit budgets, the CRL marks, the clinics' 照会番号, the 一括照会 waiting for or
holding their results (their entries sealed), the cards' failed face matches and the
目視確認用パスコード issued to clinics.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Clinic(Base):
    """A medical institution or pharmacy allowed to ask (医療機関コード, 10 digits)."""

    __tablename__ = "clinics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(10), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # Set while the clinic may not ask (closed, or its token is not to be trusted): it is
    # then refused exactly like an unknown clinic.
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ClinicDevice(Base):
    """A registered face-recognition reader of a clinic, with its Ed25519 public key."""

    __tablename__ = "clinic_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("clinic_id", "device_id"),)


class UsedChallenge(Base):
    """A challenge that answered a check: its id may never answer another (replay).

    The key is (challenge_id, expires_at): on PostgreSQL the table is partitioned by day of
    `expires_at` (docs/partitions.md), and a partitioned table's unique keys must hold the
    partition key. It refuses a replay as the id alone did, because a challenge's expiry is
    inside its MAC: one id never comes with two expiries. A day's partition is dropped once
    every challenge in it has expired by the database's clock."""

    __tablename__ = "used_challenges"
    __table_args__ = ({"postgresql_partition_by": "RANGE (expires_at)"},)

    challenge_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)


class CrlHighWater(Base):
    """The newest CRL seen of a CA, so that an older one is never used again (rollback)."""

    __tablename__ = "crl_high_water"

    ca_key: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of its SPKI
    crl_number: Mapped[str] = mapped_column(String(50))  # zero-padded decimal: sorts as text
    this_update: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class Registration(Base):
    """初回登録: the person agreed to use the card as a health insurance card."""

    __tablename__ = "registrations"

    person_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    registered_via: Mapped[str] = mapped_column(String(32))  # "portal" or a clinic code
    certificate_issuer: Mapped[str] = mapped_column(Text)
    certificate_serial: Mapped[str] = mapped_column(String(64))


class AccessRecord(Base):
    """One lookup: who asked, when, how, what was asked and answered. Append-only.

    Sealing (see `access_log.seal`) gives each record its place in the log's Merkle tree:
    `chain_pos` = its leaf index + 1, its leaf hash stored as node (0, chain_pos − 1) of
    `access_tree_nodes` (docs/access-log.md, "The server's log"); until then it is empty.

    On PostgreSQL the table is partitioned by month of `recorded_at` (docs/partitions.md):
    its primary key there is (id, recorded_at), the ids still coming from one sequence, and
    each partition holds its own unique index of the positions (the database can enforce no
    uniqueness across partitions that leaves the partition key out; the sealer, which alone
    gives positions, and `verify-log` keep them unique). SQLite keeps the plain table.
    """

    __tablename__ = "access_records"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    clinic_code: Mapped[str | None] = mapped_column(String(10), index=True)
    person_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    method: Mapped[str] = mapped_column(String(16))
    request: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    chain_pos: Mapped[int | None] = mapped_column(BigInteger)

    # Sealing updates a record and leaves its unsealed version behind as a dead row until
    # VACUUM, in every index. The unsealed records (`chain_pos IS NULL`) are found through a
    # small partial index, oldest first, whose scan marks each dead entry once and skips it
    # after. The unique index of the chain's positions leaves them out, so no plan can look
    # for them there (a bitmap scan of it visited every dead row: the sealer's search took
    # ~150 ms after 200,000 records with autovacuum off, and PostgreSQL's CPU a check doubled).
    # The positions' unique index is SQLite's; on PostgreSQL each partition has its own
    # (`<partition>_chain_pos_key`), made with the partition (`housekeeping.Partitions`).
    __table_args__ = (
        Index(
            "ix_access_records_unsealed",
            "id",
            postgresql_where=chain_pos.is_(None),
            sqlite_where=chain_pos.is_(None),
        ),
        Index(
            "uq_access_records_chain_pos",
            "chain_pos",
            unique=True,
            sqlite_where=chain_pos.is_not(None),
        ).ddl_if(dialect="sqlite"),
        {"postgresql_partition_by": "RANGE (recorded_at)"},
    )


class TreeHead(Base):
    """The access log's tree head: how many records are sealed and the root over them. One
    row; its row lock admits one sealer at a time (it replaces the chain's head)."""

    __tablename__ = "access_tree_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))


class TreeNode(Base):
    """One perfect subtree of the access log's tree: (level, idx) covers the leaves
    [idx·2^level, (idx+1)·2^level); level 0 holds the records' leaf hashes. Written once."""

    __tablename__ = "access_tree_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LogCheckpoint(Base):
    """A checkpoint the server signed (a C2SP signed note of the tree's size and root) and,
    once a witness cosigned it, the note with the witnesses' cosignature lines."""

    __tablename__ = "access_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    witnessed_note: Mapped[str | None] = mapped_column(Text)
    witnessed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class LookupBudget(Base):
    """How much of one rate-limit budget a clinic spent in one fixed window (see
    `rate_limit.Budget`: lookups a minute, batch entries a day, unmatched answers an hour)."""

    __tablename__ = "lookup_budgets"

    clinic_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    budget: Mapped[str] = mapped_column(String(16), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class Batch(Base):
    """A 一括照会 submitted by a clinic (two-step: the result is fetched by reception number).

    A worker claims it with a lease (by the database's clock, so that an instance that died
    mid-batch leaves it to another) and looks its entries up a chunk per transaction.
    """

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reception_number: Mapped[str] = mapped_column(String(16), unique=True)
    clinic_code: Mapped[str] = mapped_column(String(10), index=True)
    # The client's Idempotency-Key: a retried submission gets the same batch, not a second.
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    entries_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    submitted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    confirmation_date: Mapped[dt.date] = mapped_column(Date)
    arbitrary_file_identifier: Mapped[str | None] = mapped_column(String(64))
    entry_count: Mapped[int] = mapped_column(Integer)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    __table_args__ = (UniqueConstraint("clinic_code", "idempotency_key"),)


class BatchEntry(Base):
    """One entry of a batch: the query, and once looked up its `BulkConfirmUnit`, both
    sealed (AES-GCM under the server's key): they hold birth dates and names."""

    __tablename__ = "batch_entries"

    batch_id: Mapped[int] = mapped_column(
        ForeignKey("batches.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    unit_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)


class ClinicReferenceNumber(Base):
    """照会番号: a clinic's own number for a person, carried in its answers about them.

    One number per person and clinic (registering another replaces it), one person per
    number and clinic. The card check reads it by its primary key in its one statement."""

    __tablename__ = "reference_numbers"

    clinic_code: Mapped[str] = mapped_column(String(10), primary_key=True)
    person_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference_number: Mapped[str] = mapped_column(String(20))
    registered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("clinic_code", "reference_number"),)


class FaceFailures(Base):
    """A card's failed face matches in a row, as its clinics' readers reported them: face
    mode is refused for it from the 10th on (`cards/lockouts.py`). The card is its auth
    certificate's SHA-256, never a name or My Number; a card with none has no row."""

    __tablename__ = "face_failures"

    certificate_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class VisualPasscode(Base):
    """A 目視確認用パスコード issued to a clinic: it answers one visual check there before it
    expires. The passcode itself is not kept: its HMAC under the server's challenge key is
    the key, so a copy of the table gives no passcode. Removed a day after it expired."""

    __tablename__ = "visual_passcodes"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    clinic_code: Mapped[str] = mapped_column(String(10))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The check it answered: its challenge id, as the check's access record names it.
    used_by_challenge: Mapped[str | None] = mapped_column(String(32))
