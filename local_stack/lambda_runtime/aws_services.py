"""moto in a process of its own, for the AWS services only the functions use: DynamoDB (the idempotency
records) and Secrets Manager (the Segment write key, the Profile API token).

In process mode the functions' calls to these arrive over HTTP, and would otherwise be answered by moto's
server inside the engine's process, on the same interpreter lock as the Step Functions interpreter, the
invoke server and the local Personalize and Segment: here they have a core of their own. Step Functions and
SQS stay in the engine's process (its interpreter runs there). The engine points ``AWS_ENDPOINT_URL_DYNAMODB``
and ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` at :attr:`MotoProcess.url`, in its own environment (so that
``prepare`` creates the table and the secrets here) and in the sandboxes'.

``python -m local_stack.lambda_runtime.aws_services`` prints its URL, then serves until its standard input
closes (so it ends with the engine's process, however that ends).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys

from local_stack.lambda_runtime.sandboxes import ROOT, proc_cpu_seconds

#: The services this process serves, as ``AWS_ENDPOINT_URL_<SERVICE>`` names them.
SERVICES = ("DYNAMODB", "SECRETS_MANAGER")


class MotoProcess:
    """A moto server in a child process on 127.0.0.1; :meth:`start`, :meth:`stop`."""

    def __init__(self) -> None:
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_ENDPOINT_URL")}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "local_stack.lambda_runtime.aws_services"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError(f"moto for the functions' services did not start: {line!r}")
        self.url = line
        return line

    def cpu_seconds(self) -> float:
        """CPU the process has used so far (/proc); 0 when it is not running (or there is no /proc)."""
        if self._process is None:
            return 0.0
        return proc_cpu_seconds(self._process.pid) or 0.0

    def endpoint_env(self) -> dict[str, str]:
        return {f"AWS_ENDPOINT_URL_{service}": self.url for service in SERVICES}

    def stop(self) -> None:
        if self._process is None:
            return
        process, self._process = self._process, None
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def main() -> int:
    from moto.server import ThreadedMotoServer

    from local_stack.stepfunctions.moto_patches import MotoPatches

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # the rows of moto_patches that hold for every moto (``always``), here for one above all: the
    # idempotency records' DynamoDB items are not tracked for good (local_stack.stepfunctions.forgetting),
    # so a long replay does not grow this process by every record moto has ever made
    MotoPatches(
        skip_retry_waits=False,
        fast=False,
        record_retry_wait=_unused,
        record_sdk_retry_wait=_unused,
        on_terminated=_unused,
    ).install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()  # until the engine closes it (or its process ends)
    server.stop()
    return 0


def _unused(_: object) -> None:
    """What this process's moto patches record: nothing (they are the ``always`` rows only)."""


if __name__ == "__main__":
    sys.exit(main())
