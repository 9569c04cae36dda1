"""A live server whose listen backlog takes a burst of simultaneous connections.

Django's live server listens with a backlog of 10: a burst of 32 connects overflows it and the
kernel resets connections, which would test the socket, not the receiver."""

from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread, _StaticFilesHandler


class _WideBacklogServer(ThreadedWSGIServer):
    request_queue_size = 256


class WideLiveServerThread(LiveServerThread):
    server_class = _WideBacklogServer


class LiveServer:
    def __init__(self):
        # The server threads use their own connections to the (transactional) test database.
        self.thread = WideLiveServerThread("127.0.0.1", _StaticFilesHandler)
        self.thread.daemon = True
        self.thread.start()
        self.thread.is_ready.wait()
        if self.thread.error:
            raise self.thread.error
        self.url = f"http://127.0.0.1:{self.thread.port}"

    def stop(self):
        self.thread.terminate()
