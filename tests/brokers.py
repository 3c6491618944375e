"""Real brokers on loopback for the stream tests: librdkafka's mock Kafka cluster and an amqtt MQTT broker,
each in its own process so a test can SIGKILL it and start it again."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

KAFKA_MOCK = """
import time
from confluent_kafka import Producer
p = Producer({"test.mock.num.brokers": 1, "log_level": 0})
b = next(iter(p.list_topics(timeout=10).brokers.values()))
print(f"{b.host}:{b.port}", flush=True)
while True:
    time.sleep(1)
"""

MJPEG_SERVER = """
import sys, time, cv2, numpy as np
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Stream(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        i = 0
        try:
            while True:
                buf = cv2.imencode(".jpg", np.full((120, 160, 3), i % 250, np.uint8))[1].tobytes()
                head = b"--frame\\r\\nContent-Type: image/jpeg\\r\\nContent-Length: %d\\r\\n\\r\\n"
                self.wfile.write(head % len(buf))
                self.wfile.write(buf + b"\\r\\n")
                i += 1
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *a):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Stream).serve_forever()
"""

AMQTT_CONFIG = """listeners:
  default:
    type: tcp
    bind: 127.0.0.1:{port}
plugins:
  amqtt.plugins.authentication.AnonymousAuthPlugin:
    allow_anonymous: true
"""


def start_kafka_mock() -> tuple[subprocess.Popen, str]:
    """A mock Kafka cluster (one broker) in a child process; returns (process, bootstrap ``host:port``)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", KAFKA_MOCK], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise RuntimeError("the mock Kafka cluster did not start")
    return proc, line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mqtt_broker(port: int, workdir: Path, timeout: float = 20.0) -> subprocess.Popen:
    """An amqtt broker on 127.0.0.1:``port``; returns once it accepts connections."""
    cfg = workdir / f"amqtt_{port}.yaml"
    cfg.write_text(AMQTT_CONFIG.format(port=port))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from amqtt.scripts.broker_script import main; sys.exit(main())",
            "-c",
            str(cfg),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return _listening(proc, port, timeout, "the MQTT broker")


def _listening(proc: subprocess.Popen, port: int, timeout: float, what: str) -> subprocess.Popen:
    """``proc`` once it accepts connections on 127.0.0.1:``port``; killed and an error after ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {proc.returncode}") from None
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s")


def kafka_messages(bootstrap: str, topic: str, want: int, timeout: float = 20.0) -> list:
    """Messages of ``topic`` from the start, until ``want`` arrived or ``timeout``."""
    from confluent_kafka import Consumer

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "log_level": 0,
        }
    )
    c.subscribe([topic])
    got, end = [], time.monotonic() + timeout
    try:
        while len(got) < want and time.monotonic() < end:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(m)
    finally:
        c.close()
    return got


def start_mjpeg_camera(port: int, timeout: float = 10.0) -> subprocess.Popen:
    """An HTTP MJPEG camera (50 frames/s of 160 × 120) on 127.0.0.1:``port``, in a child process."""
    proc = subprocess.Popen([sys.executable, "-c", MJPEG_SERVER, str(port)], stderr=subprocess.DEVNULL)
    return _listening(proc, port, timeout, "the MJPEG camera")
