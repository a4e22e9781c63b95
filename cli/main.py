"""``segment-personalize``: run the workflow on the local stack, replay an export, trace an execution, serve,
soak it with faults; redrive a dead-letter queue.

Everything but ``redrive`` runs in this process on loopback; no AWS account is needed. ``redrive`` talks to
whatever boto3's usual configuration points at: AWS, or ``serve`` through ``AWS_ENDPOINT_URL``. See
``segment-personalize --help``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = ".data"


def quiet_logging() -> None:
    """The functions log JSON lines at INFO in AWS; on a terminal the summary is what matters."""
    logging.getLogger().setLevel(logging.WARNING)
    for noisy in ("botocore", "urllib3", "moto", "segment", "backoff", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _progress_bar(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="msg", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def _replay(stack: Any, messages: list[Any], show_progress: bool) -> list[Any]:
    from local_stack.destination import replay

    with _progress_bar(len(messages), show_progress) as bar:
        return replay(stack, messages, progress=bar.update)


def _print_summary(summary: Any, stack: Any, out: Any, sample_users: int = 3) -> None:
    p = lambda text="": print(text, file=out)  # noqa: E731
    p(f"messages          {summary.messages}")
    p(f"accepted          {summary.accepted}  (executions started by the entry function)")
    if summary.duplicates:
        p(f"redeliveries      {summary.duplicates}  (deduplicated by execution name)")
    p(f"ignored           {summary.ignored}  (valid, not interactions)")
    for reason, count in summary.ignored_reasons.most_common(4):
        p(f"  {count:>5}  {reason}")
    p(f"rejected          {summary.rejected}")
    for reason, count in summary.rejected_reasons.most_common(8):
        p(f"  {count:>5}  {reason}")
    p(
        f"tracked           {summary.tracked}  executions, "
        f"{summary.items_tracked} interactions sent to Personalize"
    )
    p(f"dead-lettered     {summary.dead_lettered}")
    for cause, count in summary.dead_letter_causes.most_common(8):
        p(f"  {count:>5}  {cause}")
    p(f"profiles synced   {summary.synced}  identify calls with recommended_products")
    shown = 0
    for profile in stack.segment.profiles():
        traits = profile.get("traits") or {}
        if "recommended_products" not in traits or shown >= sample_users:
            continue
        shown += 1
        ids = [i for i in profile.get("external_ids", []) if i.startswith("user_id:")] or profile[
            "external_ids"
        ]
        p()
        p(f"profile {ids[0]}")
        p(f"  favorite_departments  {traits.get('favorite_departments')}")
        purchased = traits.get("purchased_products") or []
        p(f"  purchased_products    {len(purchased)} items")
        recommended = traits["recommended_products"]
        categories = [(stack.personalize.item(i) or {}).get("CATEGORY", "?") for i in recommended]
        p(f"  recommended_products  {recommended}")
        p(f"    their categories    {categories}")


def cmd_run(args: argparse.Namespace) -> int:
    from local_stack.destination import Summary
    from local_stack.stack import LocalStack
    from local_stack.traffic import generate

    traffic = generate(
        args.seed, users=args.users, anonymous=args.anonymous, sessions_per_visitor=args.sessions
    )
    print(
        f"generated {len(traffic.messages)} Segment messages (seed {args.seed}): {args.users} known users, "
        f"{args.anonymous} anonymous visitors, {len(traffic.catalog)} products, "
        f"{traffic.malformed} malformed",
        file=sys.stderr,
    )
    started = time.monotonic()
    with LocalStack(args.data_dir, items=traffic.items_catalog()) as stack:
        outcomes = _replay(stack, traffic.messages, not args.no_progress)
        summary = Summary.of(outcomes)
        elapsed = time.monotonic() - started
        if args.json:
            print(json.dumps({"summary": summary.as_json(), "seconds": round(elapsed, 1)}, indent=2))
        else:
            print(f"\nran {summary.accepted} executions in {elapsed:.1f} s; state in {args.data_dir}/\n")
            _print_summary(summary, stack, sys.stdout)
            example = next((o.executionName for o in outcomes if o.synced), None)
            if example:
                print(f"\nstep through one: segment-personalize trace {example} --data-dir {args.data_dir}")
    return 0 if summary.messages else 1


def cmd_replay(args: argparse.Namespace) -> int:
    from local_stack.destination import Summary, read_jsonl
    from local_stack.stack import LocalStack

    messages = read_jsonl(args.file)
    with LocalStack(args.data_dir) as stack:
        outcomes = _replay(stack, messages, not args.no_progress and not args.json)
        summary = Summary.of(outcomes)
        if args.json:
            print(
                json.dumps(
                    {"records": [o.as_json() for o in outcomes], "totals": summary.as_json()}, indent=2
                )
            )
        else:
            _print_summary(summary, stack, sys.stdout)
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from cli.trace import render, steps
    from local_stack.run_store import RunStore

    path = Path(args.data_dir) / "runs.sqlite"
    if not path.exists():
        print(f"no runs recorded in {args.data_dir}/ (run `segment-personalize run` first)", file=sys.stderr)
        return 2
    store = RunStore(path)
    try:
        record = store.execution(args.execution)
    finally:
        store.close()
    if record is None:
        print(f"no execution named {args.execution!r} (name, ARN or messageId) in {path}", file=sys.stderr)
        return 2
    if args.json:
        payload = {
            "name": record.name,
            "arn": record.arn,
            "status": record.status,
            "error": record.error,
            "states": [step.as_json() for step in steps(record.history)],
        }
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(render(record.name, record.status, record.history))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from moto.server import ThreadedMotoServer

    from local_stack.stack import LocalStack

    stop = threading.Event()
    # Ctrl-C and SIGTERM stop the stack. Set SIGINT's handler explicitly: a process started in the
    # background by a shell (or by CI) inherits SIGINT as ignored, and Python then never raises
    # KeyboardInterrupt.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with LocalStack(args.data_dir, fresh=not args.keep_data) as stack:
        # moto's server shares the in-process backends: other processes see the same state machine.
        moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.moto_port, verbose=False)
        moto_server.start()
        try:
            print("local stack up; Ctrl-C stops it\n")
            host, port = moto_server.get_host_and_port()
            endpoints = {
                "moto (sfn, sqs, dynamodb, secretsmanager)": f"http://{host}:{port}",
                **stack.endpoints(),
            }
            for name, value in endpoints.items():
                print(f"  {name:<42} {value}")
            assert stack.engine is not None
            assert stack.personalize is not None
            lambda_url, personalize = stack.engine.server.url, stack.personalize.url
            print(
                f"\nexport AWS_ENDPOINT_URL=http://{host}:{port} AWS_ENDPOINT_URL_LAMBDA={lambda_url} "
                f"AWS_ENDPOINT_URL_PERSONALIZE_EVENTS={personalize} "
                f"AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME={personalize} "
                "AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local",
                flush=True,
            )
            stop.wait()
        finally:
            moto_server.stop()
    print("stopped", file=sys.stderr)
    return 0


def cmd_soak(args: argparse.Namespace) -> int:
    import warnings

    from soak.harness import WORKFLOW_TYPES, soak

    # a step that fails before it counts anything flushes no metrics; Powertools warns on each such invoke
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    workflows = WORKFLOW_TYPES if args.workflow == "both" else (args.workflow.upper(),)
    progress = None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    results = soak(
        workflows,
        events=args.events,
        seconds=args.seconds,
        seed=args.seed,
        data_dir=Path(args.data_dir) / "soak",
        progress=progress,
    )
    if args.json:
        print(json.dumps([result.as_json() for result in results], indent=2))
    return 0 if all(result.ok for result in results) else 1


def cmd_redrive(args: argparse.Namespace) -> int:
    import boto3

    from cli.redrive import redrive

    session = boto3.session.Session()
    report = redrive(
        session.client("sqs"),
        session.client("stepfunctions"),
        args.queue_url,
        args.state_machine_arn,
        max_messages=args.max,
        dry_run=args.dry_run,
        wait_seconds=args.wait_seconds,
    )
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        for item in report.redriven:
            failure = f"{item.failedState}: {item.error}" if item.failedState else "?"
            print(
                f"{item.status:<16} {item.executionName}  (messageId {item.messageId}; failed at {failure})"
            )
        for left in report.left:
            print(f"{'left in queue':<16} SQS message {left.sqsMessageId}: {left.reason}")
        verb = "would start" if report.dry_run else "started"
        print(
            f"\n{report.received} dead letters received, {len(report.redriven)} {verb}, "
            f"{len(report.left)} left in the queue"
        )
    return 1 if report.left else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segment-personalize",
        description="Segment -> Step Functions -> Amazon Personalize -> Segment profiles, on a local stack.",
    )
    parser.add_argument(
        "--data-dir", default=DEFAULT_DATA_DIR, help="folder for the SQLite state (default .data)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="generate Segment traffic and run it through the workflow")
    run.add_argument("--seed", type=int, default=7)
    run.add_argument("--users", type=int, default=16, help="known users")
    run.add_argument("--anonymous", type=int, default=6, help="anonymous visitors")
    run.add_argument("--sessions", type=int, default=3, help="sessions per visitor")
    run.add_argument("--json", action="store_true", help="print the totals as JSON")
    run.add_argument("--no-progress", action="store_true")
    run.set_defaults(func=cmd_run)

    replay = commands.add_parser("replay", help="run your own Segment export (one message per line)")
    replay.add_argument("file", help="a JSON Lines file of Segment messages")
    replay.add_argument("--json", action="store_true", help="one record per input line, and the totals")
    replay.add_argument("--no-progress", action="store_true")
    replay.set_defaults(func=cmd_replay)

    trace = commands.add_parser("trace", help="step through one execution of the last run, state by state")
    trace.add_argument("execution", help="execution name, ARN or Segment messageId")
    trace.add_argument("--json", action="store_true")
    trace.set_defaults(func=cmd_trace)

    serve = commands.add_parser("serve", help="keep the local stack up and print its endpoints")
    serve.add_argument("--moto-port", type=int, default=5000)
    serve.add_argument("--keep-data", action="store_true", help="keep the data folder's state")
    serve.set_defaults(func=cmd_serve)

    soak = commands.add_parser(
        "soak",
        help="deliver generated traffic twice with faults on, redrive the dead letters, check nothing is "
        "lost or tracked twice",
    )
    soak.add_argument("--events", type=int, default=500, help="Segment messages (each delivered twice)")
    soak.add_argument("--seconds", type=float, default=300.0, help="time budget for the deliveries")
    soak.add_argument("--seed", type=int, default=11)
    soak.add_argument("--workflow", choices=("standard", "express", "both"), default="both")
    soak.add_argument("--json", action="store_true", help="also print the figures as JSON")
    soak.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    soak.set_defaults(func=cmd_soak)

    redrive = commands.add_parser(
        "redrive",
        help="start a new execution for each event of the dead-letter queue (AWS, or AWS_ENDPOINT_URL)",
    )
    redrive.add_argument("--queue-url", required=True, help="the stack's DeadLetterQueueUrl output")
    redrive.add_argument("--state-machine-arn", required=True, help="the stack's StateMachineArn output")
    redrive.add_argument("--max", type=int, default=100, help="dead letters to take at most (default 100)")
    redrive.add_argument("--dry-run", action="store_true", help="start and delete nothing; list what would")
    redrive.add_argument("--wait-seconds", type=int, default=2, help="SQS long-poll wait of each receive")
    redrive.add_argument("--json", action="store_true")
    redrive.set_defaults(func=cmd_redrive)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.data_dir = str(args.data_dir)
    quiet_logging()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
