"""`uvicorn APP --workers N`, except that the listener is created with IPPROTO_TCP.

`uvicorn --workers N` binds its listening socket with proto 0. Accepted sockets inherit it and
asyncio only sets TCP_NODELAY when proto is IPPROTO_TCP, so Nagle stays on: every keep-alive
response after a connection's first waits ~40 ms for the client's delayed ACK, because uvicorn
writes the headers and the body separately (Kludex/uvicorn#3149). Single-worker uvicorn is not
affected. bench/ack_path.py --baseline-nodelay serves the baseline with this to measure the
consumer's own cost; same app, same uvicorn, same workers, only the listener differs.

    python -m bench.uvicorn_nodelay bench.procureiq_fastapi_consumer:app --port 8001 --workers 2
"""

import argparse
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess


def tcp_listener(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    config = uvicorn.Config(
        args.app, host=args.host, port=args.port, workers=args.workers, access_log=False
    )
    # What uvicorn.run() does for workers > 1, with our socket instead of config.bind_socket().
    Multiprocess(config, sockets=[tcp_listener(args.host, args.port)]).run()


if __name__ == "__main__":
    main()
