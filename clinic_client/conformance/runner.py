"""Run the catalogue, print a table, write JUnit XML."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import httpx

from card_reader.core.errors import CardError
from clinic_client.api import ServerError, ServerUnreachable
from clinic_client.conformance.scenarios import NotRun, Unexpected


class Case(Protocol):
    """A scenario of either catalogue: an id, the expected answer, and how to check it."""

    @property
    def id(self) -> str: ...

    @property
    def expectation(self) -> str: ...

    @property
    def run(self) -> Callable[[Any], None]: ...


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_RUN = "not run"


@dataclass(frozen=True, slots=True)
class Result:
    scenario: Case
    outcome: Outcome
    reason: str
    seconds: float


class Unreachable(Exception):
    """The server stopped answering at all during `scenario`: the rest cannot run."""

    def __init__(self, scenario: str, reason: str) -> None:
        super().__init__(f"{reason} (during {scenario})")
        self.scenario, self.reason = scenario, reason


def run_catalogue(context: object, catalogue: Sequence[Case]) -> list[Result]:
    """Run each scenario in order; a failure is recorded with its reason, never raised, and
    so is an answer the kit cannot read. A server that cannot be reached at all raises
    `Unreachable`: every scenario after would fail for the same reason."""
    results = []
    for scenario in catalogue:
        started = time.perf_counter()
        try:
            scenario.run(context)
            outcome, reason = Outcome.PASSED, ""
        except ServerUnreachable as exc:
            raise Unreachable(scenario.id, str(exc.__cause__ or exc)) from None
        except httpx.TransportError as exc:
            raise Unreachable(scenario.id, str(exc) or type(exc).__name__) from None
        except NotRun as exc:
            outcome, reason = Outcome.NOT_RUN, str(exc)
        except Unexpected as exc:
            outcome, reason = Outcome.FAILED, str(exc)
        except ServerError as exc:
            outcome, reason = Outcome.FAILED, f"unexpected server answer: {exc}"
        except CardError as exc:
            outcome, reason = Outcome.FAILED, f"card: {exc}"
        except Exception as exc:  # an answer the kit cannot read fails this scenario only
            outcome, reason = Outcome.FAILED, _unreadable(exc)
        results.append(Result(scenario, outcome, reason, time.perf_counter() - started))
    return results


def _unreadable(exc: Exception) -> str:
    first = (str(exc).splitlines() or [""])[0]
    return f"unreadable answer: {type(exc).__name__}: {first}"


def table(results: list[Result]) -> str:
    width = max(len(r.scenario.id) for r in results)
    lines = [f"{'scenario':<{width}}  {'outcome':<8}  reason / expectation"]
    for r in results:
        detail = r.reason or r.scenario.expectation.splitlines()[0]
        lines.append(f"{r.scenario.id:<{width}}  {r.outcome.value:<8}  {detail}")
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    lines.append(
        f"{counts[Outcome.PASSED]} passed, {counts[Outcome.FAILED]} failed, "
        f"{counts[Outcome.NOT_RUN]} not run"
    )
    return "\n".join(lines)


def write_junit(results: list[Result], path: Path) -> None:
    suite = ET.Element(
        "testsuite",
        name="onshi-conformance",
        tests=str(len(results)),
        failures=str(sum(r.outcome is Outcome.FAILED for r in results)),
        skipped=str(sum(r.outcome is Outcome.NOT_RUN for r in results)),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    for r in results:
        case = ET.SubElement(
            suite, "testcase", classname="conformance", name=r.scenario.id, time=f"{r.seconds:.3f}"
        )
        ET.SubElement(case, "system-out").text = r.scenario.expectation
        if r.outcome is Outcome.FAILED:
            ET.SubElement(case, "failure", message=r.reason).text = r.scenario.expectation
        elif r.outcome is Outcome.NOT_RUN:
            ET.SubElement(case, "skipped", message=r.reason)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)
