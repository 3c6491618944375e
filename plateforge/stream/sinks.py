"""Remote event sinks, each fed by the outbox's :class:`~plateforge.stream.outbox.Dispatcher`.

A sink has a ``name`` (the outbox keys deliveries by it: keep it stable across restarts) and
``send(events)``, which returns only when every event of the batch is confirmed and raises otherwise (the
dispatcher then retries the whole batch later: at-least-once).

- ``JsonlSink``: one JSON object per line, appended and fsync'ed.
- ``KafkaSink`` (confluent-kafka): idempotent producer, ``acks=all``, partition key = camera, headers
  ``event_id`` and ``revision``.
- ``MqttSink`` (paho-mqtt): QoS 1 to ``<topic>/<camera>``.
- ``WebhookSink``: one HTTP POST per event (JSON body, header ``Idempotency-Key`` (:func:`delivery_key`:
  ``<event_id>``, ``<event_id>/2`` for a corrected pass's revision 2), signed with HMAC-SHA256 when given a
  secret); 2xx = done.

``make_sink`` builds one from a config dict (``{"type": "kafka", "bootstrap": "host:9092", "topic": ...}``)
or a CLI string: ``events.jsonl`` / ``jsonl:PATH``, ``kafka://HOST:PORT/TOPIC``, ``mqtt://HOST:PORT/TOPIC``,
``http(s)://URL``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse


def delivery_key(event: dict) -> str:
    """What tells one delivery of a pass from another: its ``event_id``, and ``/<revision>`` from a person's
    first correction on (``Outbox.correct``), so receivers that keep one delivery per key take corrections."""
    rev = event.get("revision")
    return event["event_id"] if rev in (None, 1) else f"{event['event_id']}/{rev}"


class SinkError(RuntimeError):
    """A batch was not confirmed by the sink."""


class JsonlSink:
    def __init__(self, path: str | Path, name: str = "jsonl"):
        self.path, self.name = Path(path), name
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def send(self, events: list[dict]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("".join(json.dumps(e) + "\n" for e in events))
            f.flush()
            os.fsync(f.fileno())


class KafkaSink:
    """``bootstrap``: ``host:port[,host:port]``; ``config``: extra librdkafka settings (security etc.);
    ``timeout``: seconds to wait for the broker's acknowledgements of one batch."""

    def __init__(
        self, bootstrap: str, topic: str, name: str = "kafka", config: dict | None = None, timeout: float = 10.0
    ):
        try:
            import confluent_kafka  # noqa: F401  (fail at configuration time, not at the first event)
        except ImportError as e:
            raise ImportError("the Kafka sink needs confluent-kafka: pip install 'plateforge[stream]'") from e
        self.name, self.topic, self.timeout = name, topic, timeout
        self.producer = None  # made on first use: a configured but unused sink starts no librdkafka threads
        conf = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": int(timeout * 1000),
            "reconnect.backoff.max.ms": 2000,
        }
        conf.update(config or {})
        self.conf = conf

    def send(self, events: list[dict]) -> None:
        if self.producer is None:
            from confluent_kafka import Producer

            self.producer = Producer(self.conf)
        errors: list[str] = []
        acked = 0

        def done(err, _msg):
            nonlocal acked
            if err is not None:
                errors.append(str(err))
            else:
                acked += 1

        for e in events:
            self.producer.produce(
                self.topic,
                key=str(e.get("camera", "")).encode(),
                value=json.dumps(e).encode(),
                headers={"event_id": e["event_id"], "revision": str(e.get("revision") or 1)},
                on_delivery=done,
            )
        left = self.producer.flush(self.timeout + 1)
        if errors or left or acked != len(events):
            raise SinkError(
                f"kafka {self.topic}: {acked}/{len(events)} acknowledged; {left} still queued; errors: {errors[:3]}"
            )

    def close(self) -> None:
        if self.producer is not None:
            self.producer.flush(1)
            self.producer = None


class MqttSink:
    """QoS 1 publishes to ``<topic>/<camera>``; connects on first use and again after a failure."""

    def __init__(
        self,
        host: str,
        port: int = 1883,
        topic: str = "plateforge/plates",
        name: str = "mqtt",
        timeout: float = 10.0,
        client_id: str | None = None,
    ):
        try:
            import paho.mqtt.client as mqtt
        except ImportError as e:
            raise ImportError("the MQTT sink needs paho-mqtt: pip install 'plateforge[stream]'") from e
        self._mqtt = mqtt
        self.host, self.port, self.topic, self.name, self.timeout = host, int(port), topic.rstrip("/"), name, timeout
        self.client_id = client_id or f"plateforge-{os.getpid()}"
        self.client = None
        self._connected = threading.Event()

    def _connect(self):
        mqtt = self._mqtt
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id)
        client.on_connect = lambda c, u, f, rc, p=None: self._connected.set() if not rc.is_failure else None
        client.on_disconnect = lambda *a: self._connected.clear()
        self._connected.clear()
        client.connect(self.host, self.port, keepalive=30)
        client.loop_start()
        if not self._connected.wait(self.timeout):
            client.loop_stop()
            raise SinkError(f"mqtt {self.host}:{self.port}: no CONNACK within {self.timeout} s")
        self.client = client

    def send(self, events: list[dict]) -> None:
        try:
            if self.client is None or not self._connected.is_set():
                self.close()
                self._connect()
            infos = [self.client.publish(f"{self.topic}/{e.get('camera', '')}", json.dumps(e), qos=1) for e in events]
            for info in infos:
                info.wait_for_publish(self.timeout)
                if not info.is_published():
                    raise SinkError(f"mqtt {self.host}:{self.port}: publish not acknowledged")
        except Exception:
            self.close()  # a fresh connection next time; the outbox keeps the batch
            raise

    def close(self) -> None:
        if self.client is not None:
            self.client.loop_stop()
            self.client.disconnect()
            self.client = None


class WebhookSink:
    """One HTTP POST per event. ``secret`` (or the environment variable named by ``secret_env``, which keeps
    it out of the site YAML): sign each POST so its receiver, say the controller of a barrier, can tell
    plateforge's requests from anyone else's and refuse replays. Headers ``X-Plateforge-Timestamp`` (Unix
    seconds) and ``X-Plateforge-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"``;
    :func:`verify_webhook` checks them."""

    def __init__(
        self,
        url: str,
        name: str = "webhook",
        timeout: float = 10.0,
        headers: dict | None = None,
        secret: str | None = None,
        secret_env: str | None = None,
    ):
        self.url, self.name, self.timeout, self.headers = url, name, timeout, dict(headers or {})
        if secret_env is not None:
            secret = os.environ.get(secret_env)
            if not secret:
                raise ValueError(f"webhook {url}: secret_env {secret_env!r} is not set in the environment")
        self.secret = secret.encode() if secret else None

    def send(self, events: list[dict]) -> None:
        for e in events:
            body = json.dumps(e).encode()
            headers = {"Content-Type": "application/json", "Idempotency-Key": delivery_key(e), **self.headers}
            if self.secret is not None:
                stamp = str(int(time.time()))
                headers["X-Plateforge-Timestamp"] = stamp
                headers["X-Plateforge-Signature"] = "sha256=" + _signature(self.secret, stamp, body)
            req = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    if not 200 <= resp.status < 300:
                        raise SinkError(f"webhook {self.url}: HTTP {resp.status}")
            except urllib.error.URLError as err:
                raise SinkError(f"webhook {self.url}: {err}") from err


def _signature(secret: bytes, stamp: str, body: bytes) -> str:
    return hmac.new(secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_webhook(
    secret: str, timestamp: str | None, signature: str | None, body: bytes, max_age_s: float = 300.0
) -> bool:
    """For a receiver of :class:`WebhookSink` POSTs: whether ``signature`` (header ``X-Plateforge-Signature``)
    signs ``body`` with ``secret`` at ``timestamp`` (header ``X-Plateforge-Timestamp``), no more than
    ``max_age_s`` seconds ago (an old request sent again is refused)."""
    if not timestamp or not signature or not signature.startswith("sha256="):
        return False
    try:
        age = time.time() - int(timestamp)
    except ValueError:
        return False
    if not -60 <= age <= max_age_s:  # a minute of clock skew ahead is tolerated
        return False
    return hmac.compare_digest(signature[7:], _signature(secret.encode(), timestamp, body))


def make_sink(spec: str | dict):
    """A sink from a config dict or a CLI string (see the module docstring)."""
    if isinstance(spec, dict):
        d = dict(spec)
        kind = d.pop("type", None)
        d.setdefault("name", kind)
        builders = {"jsonl": JsonlSink, "kafka": KafkaSink, "mqtt": MqttSink, "webhook": WebhookSink}
        if kind not in builders:
            raise ValueError(f"sink {spec!r}: type must be one of {sorted(builders)}")
        try:
            return builders[kind](**d)
        except TypeError as e:
            raise ValueError(f"sink {spec!r}: {e}") from e
    s = str(spec)
    u = urlparse(s)
    if u.scheme == "kafka":
        if not u.netloc or not u.path.strip("/"):
            raise ValueError(f"sink {s!r}: expected kafka://HOST:PORT/TOPIC")
        return KafkaSink(u.netloc, u.path.strip("/"))
    if u.scheme == "mqtt":
        if not u.hostname:
            raise ValueError(f"sink {s!r}: expected mqtt://HOST:PORT/TOPIC")
        return MqttSink(u.hostname, u.port or 1883, u.path.strip("/") or "plateforge/plates")
    if u.scheme in ("http", "https"):
        return WebhookSink(s)
    if u.scheme == "jsonl" or s.endswith(".jsonl"):
        return JsonlSink(s.split(":", 1)[1] if u.scheme == "jsonl" else s)
    raise ValueError(
        f"sink {s!r}: use PATH.jsonl, jsonl:PATH, kafka://HOST:PORT/TOPIC, mqtt://HOST:PORT/TOPIC or http(s)://URL"
    )
