"""``segment-personalize serve``: keep the local stack up for other processes, print its endpoints and an
``export`` line for boto3 and the Segment library; Ctrl-C or SIGTERM stops it."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TextIO

from moto.server import ThreadedMotoServer

from local_stack.stack import LocalStack


def command(args: argparse.Namespace, out: TextIO) -> int:
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
            print("local stack up; Ctrl-C stops it\n", file=out)
            host, port = moto_server.get_host_and_port()
            endpoints = {
                "moto (sfn, sqs)": f"http://{host}:{port}",
                **stack.endpoints(),
            }
            for name, value in endpoints.items():
                print(f"  {name:<42} {value}", file=out)
            assert stack.engine is not None
            assert stack.personalize is not None
            lambda_url, personalize = stack.engine.server.url, stack.personalize.url
            # the functions' DynamoDB and Secrets Manager are in a moto process of their own
            services = " ".join(f"{k}={v}" for k, v in stack.engine.aws_services.endpoint_env().items())
            print(
                f"\nexport AWS_ENDPOINT_URL=http://{host}:{port} AWS_ENDPOINT_URL_LAMBDA={lambda_url} "
                f"{services} "
                f"AWS_ENDPOINT_URL_PERSONALIZE_EVENTS={personalize} "
                f"AWS_ENDPOINT_URL_PERSONALIZE_RUNTIME={personalize} "
                "AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local",
                file=out,
                flush=True,
            )
            stop.wait()
        finally:
            moto_server.stop()
    print("stopped", file=sys.stderr)
    return 0
