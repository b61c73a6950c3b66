"""``interlock eval run SUITE``: an evaluation suite through the in-process engine or a gateway's URL."""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from interlock.cli.common import config_option, with_store
from interlock.cli.common import load_cli_settings as _settings
from interlock.settings import ConfigError, Settings

# Exit codes: every case passed (or enough of them), the pass rate fell short, the suite or the settings
# are invalid, a permission or leak failure (fatal whatever the pass rate).
EVAL_PASSED, EVAL_FAILED, EVAL_INVALID, EVAL_LEAK = 0, 1, 2, 3


@click.group("eval")
def evals() -> None:
    """Evaluation suites: permission, redaction, tool-policy, refusal, injection and quality cases."""


def _threshold(settings: Settings, use_case: str, suite: Path) -> float | None:
    """The pass rate the use case's manifest asks of this suite, if it lists it."""
    from interlock.usecases.manifest import ManifestError, load_manifest

    if settings.use_cases.dir is None:
        return None
    try:
        uc = load_manifest(settings.use_cases.dir / f"{use_case}.yaml")
    except ManifestError as exc:
        click.echo("\n".join(exc.problems), err=True)
        sys.exit(EVAL_INVALID)
    for entry in uc.doc.get("evaluations") or []:
        if (uc.path.parent / entry["suite"]).resolve() == suite.resolve():
            return float(entry.get("min_pass_rate", 1.0))
    return None


@evals.command("run")
@config_option
@click.argument("suite_file", metavar="SUITE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--use-case", "use_case", default=None, help="Run every case as a call of this use case.")
@click.option("--url", default=None, help="A running gateway (its keys from each principal's key_env); "
                                          "default: the in-process engine with a recording mock upstream.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a JUnit XML report here.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the JSON report here ('-': standard output).")
@click.option("--record/--no-record", default=True, show_default=True,
              help="Sign the result into the audit log (when the run belongs to a use case).")
@click.option("--by", default=None, help="Who runs it, for the audit log (default: cli:<your user name>).")
def eval_run(config: Path | None, suite_file: Path, use_case: str | None, url: str | None, junit_file: Path | None,
             json_file: Path | None, record: bool, by: str | None) -> None:
    """Run SUITE (YAML or JSONL). Exit 0 passed, 1 pass rate below the threshold, 2 invalid suite or
    settings, 3 a permission or leak failure."""
    from interlock.evals.report import as_json, as_junit
    from interlock.evals.runner import run_suite
    from interlock.evals.suite import SuiteError, load_suite
    from interlock.evals.targets import GatewayTarget, InProcessTarget, Target

    settings = _settings(config)
    try:
        suite = load_suite(suite_file)
    except SuiteError as exc:
        click.echo("\n".join(exc.problems), err=True)
        sys.exit(EVAL_INVALID)
    chosen = use_case or suite.use_case
    threshold = _threshold(settings, chosen, suite_file) if chosen else None

    async def run() -> Any:
        target: Target = GatewayTarget(url, settings) if url else InProcessTarget(settings)
        async with target:
            return await run_suite(suite, target, use_case=chosen, min_pass_rate=threshold)

    try:
        result = asyncio.run(run())
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EVAL_INVALID)
    doc = as_json(result)
    for r in result.results:
        mark = "PASS" if r.passed else ("LEAK" if r.leak else "FAIL")
        click.echo(f"  {mark}  [{r.case.kind}] {r.case.name}" + (f": {r.message()}" if not r.passed else ""),
                   err=json_file == Path("-"))
    verdict = (f"{suite.name}: {'PASSED' if result.passed else 'FAILED'}: {len(result.results) - len(result.failed)}"
               f"/{len(result.results)} passed ({result.pass_rate:.1%}, threshold {result.min_pass_rate:.0%}), "
               f"{len(result.leaks)} permission or leak failures")
    recall, precision = result.recall, result.citation_precision
    if recall.cases:
        click.echo(f"  retrieval ({recall.cases} cases): recall {_metric(recall)}, citation precision "
                   f"{_metric(precision)}", err=json_file == Path("-"))
    generation, judge = result.generation_pass_rate, result.judge_score
    if generation.cases:
        click.echo(f"  generation ({generation.cases} cases): quality checks passed {_metric(generation)}"
                   + (f", judge score {_metric(judge)} over {judge.cases}" if judge.cases else ""),
                   err=json_file == Path("-"))
    if chosen and record:
        record_id = _record(settings, suite_file, result, by or f"cli:{getpass.getuser()}")
        verdict += f" (audit record {record_id})"
        doc["audit_record"] = record_id
    click.echo(verdict, err=json_file == Path("-"))
    if junit_file is not None:
        junit_file.write_bytes(as_junit(result))
    if json_file is not None:
        encoded = msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n"
        if json_file == Path("-"):
            sys.stdout.buffer.write(encoded)
            sys.stdout.flush()
        else:
            json_file.write_bytes(encoded)
    sys.exit(EVAL_PASSED if result.passed else EVAL_LEAK if result.leaks else EVAL_FAILED)


def _metric(aggregate: Any) -> str:
    shown = "n/a" if aggregate.value is None else f"{aggregate.value:.2f}"
    if aggregate.threshold is None:
        return shown
    return f"{shown} ({'meets' if aggregate.passed else 'BELOW'} {aggregate.threshold})"


def _record(settings: Settings, suite_file: Path, result: Any, who: str) -> str:
    from interlock.usecases.gate import eval_record, eval_run_facts
    from interlock.usecases.lifecycle import append_signed

    recall, precision = result.recall, result.citation_precision
    retrieval = {"recall": recall.as_json()["value"], "citation_precision": precision.as_json()["value"],
                 "passed": result.retrieval_passed} if recall.cases else None
    facts = eval_run_facts(suite_file, passed=result.passed, pass_rate=result.pass_rate, leaks=len(result.leaks),
                           cases=len(result.results), failed=len(result.failed), retrieval=retrieval)
    record = eval_record(result.use_case, who, {**facts, "target": result.target})
    try:
        with_store(settings, lambda store: append_signed(store, settings, record))
    except ConfigError as exc:
        raise click.ClickException(f"the result could not be recorded: {exc}; start the gateway once (it "
                                   f"creates the audit signing key) or pass --no-record") from None
    return str(record["request_id"])
