"""Run the local Segment service alone: ``python -m local_stack.segment --port 8088 --db segment.db``."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from local_stack.segment.responses import SegmentService


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m local_stack.segment", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--db", default=None, help="SQLite file (default: in memory)")
    parser.add_argument("--write-key", action="append", dest="write_keys", help="repeatable")
    parser.add_argument("--space-id", default="local-space")
    parser.add_argument("--access-token", default="local-profile-token")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    service = SegmentService(
        db_path=args.db,
        write_keys=args.write_keys or ["local-write-key"],
        space_id=args.space_id,
        access_token=args.access_token,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(service.start(host=args.host, port=args.port), flush=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        service.close()


if __name__ == "__main__":
    main()
