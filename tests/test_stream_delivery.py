"""Event delivery over real protocols on loopback: Kafka (librdkafka's mock cluster), MQTT (an amqtt
broker), webhook (a local HTTP server); and no event lost when the broker or the stream process dies."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from plateforge.stream.outbox import Dispatcher, Outbox
from plateforge.stream.sinks import KafkaSink, MqttSink, SinkError, WebhookSink, make_sink
from tests.brokers import free_port, kafka_messages, start_kafka_mock, start_mqtt_broker


def ev(i, camera="gate-1"):
    return {"event_id": f"id-{i}", "camera": camera, "text": f"T{i}"}


def test_make_sink_parses_cli_strings_and_names_bad_ones(tmp_path):
    assert make_sink(str(tmp_path / "e.jsonl")).name == "jsonl"
    k = make_sink("kafka://127.0.0.1:1/plates")
    assert (k.name, k.topic) == ("kafka", "plates")
    m = make_sink("mqtt://127.0.0.1:1884/site/plates")
    assert (m.host, m.port, m.topic) == ("127.0.0.1", 1884, "site/plates")
    assert make_sink({"type": "webhook", "url": "http://x/y", "name": "crm"}).name == "crm"
    with pytest.raises(ValueError, match="kafka://HOST:PORT/TOPIC"):
        make_sink("kafka://host-only")
    with pytest.raises(ValueError, match="type must be one of"):
        make_sink({"type": "carrier-pigeon"})
    with pytest.raises(ValueError, match="ftp://x"):
        make_sink("ftp://x")


def test_kafka_sink_delivers_keyed_by_camera():
    proc, bootstrap = start_kafka_mock()
    try:
        sink = KafkaSink(bootstrap, "plates", config={"log_level": 0})
        sink.send([ev(1, "gate-1"), ev(2, "gate-2"), ev(3, "gate-1") | {"revision": 2}])  # id-3 corrected
        msgs = kafka_messages(bootstrap, "plates", 3)
        sink.close()
    finally:
        proc.kill()
    got = {json.loads(m.value())["event_id"]: m for m in msgs}
    assert set(got) == {"id-1", "id-2", "id-3"}
    assert got["id-1"].key() == b"gate-1" and dict(got["id-2"].headers())["event_id"] == b"id-2"
    assert dict(got["id-2"].headers())["revision"] == b"1" and dict(got["id-3"].headers())["revision"] == b"2"
    assert got["id-1"].partition() == got["id-3"].partition()  # one camera, one partition: ordered


def test_kafka_sink_raises_when_the_broker_is_gone():
    proc, bootstrap = start_kafka_mock()
    proc.kill()
    proc.wait()
    sink = KafkaSink(bootstrap, "plates", timeout=1.0, config={"log_level": 0})
    with pytest.raises(Exception, match="acknowledged"):
        sink.send([ev(1)])
    sink.close()


class Subscriber:
    """A paho client that collects every payload of ``topic/#`` and re-subscribes after reconnecting."""

    def __init__(self, port: int, topic: str):
        import paho.mqtt.client as mqtt

        self.got, self.ready = [], threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{time.monotonic_ns()}")
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{topic}/#", qos=1)
        self.c.on_subscribe = lambda *a: self.ready.set()
        self.c.on_message = lambda c, u, m: self.got.append((m.topic, json.loads(m.payload)))
        self.c.on_disconnect = lambda *a: self.ready.clear()
        self.c.reconnect_delay_set(0.1, 0.5)
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        assert self.ready.wait(10)

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()


class GatedSink:
    """Test harness: the wrapped sink fails while the gate is shut (so no event is published before the
    test's subscriber is back), and works through the real sink once it opens."""

    def __init__(self, sink):
        self.sink, self.name, self.gate = sink, sink.name, threading.Event()
        self.gate.set()

    def send(self, events):
        if not self.gate.is_set():
            raise ConnectionError("gate shut")
        self.sink.send(events)

    def close(self):
        self.sink.close()


def test_mqtt_events_survive_a_broker_kill_and_restart(tmp_path):
    port = free_port()
    broker = start_mqtt_broker(port, tmp_path)
    sub = Subscriber(port, "site/plates")
    ob = Outbox(tmp_path / "o.sqlite")
    sink = GatedSink(MqttSink("127.0.0.1", port, "site/plates", timeout=2.0))
    d = Dispatcher(ob, sink, backoff_start=0.05, backoff_max=0.5).start()
    try:
        for i in range(5):
            ob.put(ev(i))
        d.notify()
        assert d.drain(15)
        broker.send_signal(signal.SIGKILL)
        broker.wait()
        sink.gate.clear()  # (after the restart, held shut until the subscriber is back)
        for i in range(5, 12):  # events made while the broker is down wait in the outbox
            ob.put(ev(i))
            d.notify()
        time.sleep(0.5)
        assert ob.backlog(sink.name) == 7
        broker = start_mqtt_broker(port, tmp_path)
        assert sub.ready.wait(15)
        sink.gate.set()
        assert d.drain(30), d.last_error
    finally:
        d.stop()
        sub.stop()
        broker.kill()
    ids = {e["event_id"] for _, e in sub.got}
    assert ids == {f"id-{i}" for i in range(12)}  # nothing lost (a duplicate would be allowed)
    assert all(t == "site/plates/gate-1" for t, _ in sub.got)
    assert d.failures >= 1


def receiver(answer, path: str) -> tuple[HTTPServer, str]:
    """A local HTTP server whose POSTs go to ``answer(headers, body) -> status``; (server, URL of ``path``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            status = answer(self.headers, self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_webhook_posts_each_event_with_its_idempotency_key_and_retries_errors(tmp_path):
    seen, status = [], [500]

    def answer(headers, body: bytes) -> int:
        seen.append((headers["Idempotency-Key"], json.loads(body)["event_id"], status[0]))
        return status[0]

    server, url = receiver(answer, "/events")
    ob = Outbox(tmp_path / "o.sqlite")
    d = Dispatcher(ob, WebhookSink(url, timeout=2), backoff_start=0.05, backoff_max=0.2).start()
    try:
        ob.put(ev(1))
        ob.put(ev(2))
        d.notify()
        time.sleep(0.3)
        assert ob.backlog("webhook") == 2  # HTTP 500: kept, retried
        status[0] = 204
        assert d.drain(10)
        ob.correct("id-1", "T7")  # a person's correction: sent again, under a key of its own
        assert d.drain(10)
    finally:
        d.stop()
        server.shutdown()
    ok = [(k, e) for k, e, s in seen if s == 204]
    assert ok == [("id-1", "id-1"), ("id-2", "id-2"), ("id-1/2", "id-1")]


def test_a_signed_webhook_is_told_from_a_forged_or_replayed_one(tmp_path, monkeypatch):
    """A barrier controller that opens only for POSTs signed with the site's secret (verify_webhook)."""
    from plateforge.stream.sinks import verify_webhook

    opened, refused = [], []

    def gate(headers, body: bytes) -> int:
        stamp, sig = headers.get("X-Plateforge-Timestamp"), headers.get("X-Plateforge-Signature")
        ok = verify_webhook("s3cret", stamp, sig, body)
        (opened if ok else refused).append(json.loads(body)["event_id"])
        return 204 if ok else 401

    server, url = receiver(gate, "/open")
    monkeypatch.setenv("GATE_SECRET", "s3cret")
    try:
        make_sink({"type": "webhook", "url": url, "secret_env": "GATE_SECRET"}).send([ev(1)])
        with pytest.raises(SinkError, match="HTTP Error 401"):
            WebhookSink(url, secret="guess").send([ev(2)])  # forged: another secret
        with pytest.raises(SinkError, match="HTTP Error 401"):
            WebhookSink(url).send([ev(3)])  # not signed at all
    finally:
        server.shutdown()
    assert opened == ["id-1"] and refused == ["id-2", "id-3"]
    body = json.dumps(ev(4)).encode()
    stamp = str(int(time.time()) - 600)  # a request captured ten minutes ago and sent again
    import hashlib
    import hmac

    sig = "sha256=" + hmac.new(b"s3cret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert not verify_webhook("s3cret", stamp, sig, body) and verify_webhook("s3cret", stamp, sig, body, 900)
    with pytest.raises(ValueError, match="secret_env 'NOT_SET_HERE' is not set"):
        make_sink({"type": "webhook", "url": url, "secret_env": "NOT_SET_HERE"})


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    from plateforge.synth.video import VideoOptions, make_video

    out = tmp_path_factory.mktemp("long_video")
    make_video(
        out, VideoOptions(width=960, height=540, passes=10, seed=5, plate_height=(26, 48), overlap=0.0), overwrite=True
    )
    return out


def _stream(video, outbox, sinks, tmp_path, log_name):
    cmd = [
        sys.executable,
        "-m",
        "plateforge",
        "stream",
        str(video / "video.mp4"),
        "--camera",
        "gate",
        "--outbox",
        str(outbox),
        "--threads",
        "1",
        "--quiet",
    ]
    for s in sinks:
        cmd += ["--sink", s]
    with open(tmp_path / log_name, "w") as log:  # the child keeps its own copy of the file descriptor
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _stored(outbox) -> list[str]:
    try:
        with sqlite3.connect(outbox, timeout=5) as con:
            return [r[0] for r in con.execute("SELECT event_id FROM events ORDER BY seq")]
    except sqlite3.OperationalError:  # not created yet
        return []


def _marked(outbox, sink: str) -> set[str]:
    with sqlite3.connect(outbox, timeout=5) as con:
        sql = "SELECT e.event_id FROM events e JOIN deliveries d ON d.seq = e.seq WHERE d.sink = ?"
        return {r[0] for r in con.execute(sql, (sink,))}


def test_no_event_lost_when_the_stream_is_killed_and_the_broker_dies(long_video, tmp_path):
    """SIGKILL the stream process after its first events, kill the Kafka broker, start a new broker and the
    stream again: the outbox replays, and every stored event reaches Kafka or the JSONL file."""
    outbox, jsonl = tmp_path / "o.sqlite", tmp_path / "events.jsonl"
    kafka1, boot1 = start_kafka_mock()
    run1 = _stream(long_video, outbox, [f"kafka://{boot1}/plates", str(jsonl)], tmp_path, "run1.log")
    try:
        end = time.monotonic() + 120
        while len(_stored(outbox)) < 2 and time.monotonic() < end and run1.poll() is None:
            time.sleep(0.05)
        run1.send_signal(signal.SIGKILL)
        run1.wait()
        first = _stored(outbox)
        assert 2 <= len(first) < 10, (tmp_path / "run1.log").read_text()
        marked1 = _marked(outbox, "kafka")  # what the outbox saw broker 1 acknowledge before the kill
        delivered1 = {json.loads(m.value())["event_id"] for m in kafka_messages(boot1, "plates", len(marked1), 30)}
        assert marked1 <= delivered1, f"acknowledged by broker 1 but not on it: {marked1 - delivered1}"
    finally:
        kafka1.kill()
        kafka1.wait()  # the broker dies: what it held is gone with it
    kafka2, boot2 = start_kafka_mock()
    try:
        run2 = _stream(long_video, outbox, [f"kafka://{boot2}/plates", str(jsonl)], tmp_path, "run2.log")
        assert run2.wait(300) == 0, (tmp_path / "run2.log").read_text()
        stored = _stored(outbox)
        missing_in_2 = set(stored) - delivered1
        delivered2 = {json.loads(m.value())["event_id"] for m in kafka_messages(boot2, "plates", len(missing_in_2), 30)}
    finally:
        kafka2.kill()
    assert len(stored) == len(set(stored)) >= 8  # the same passes again: the same ids, stored once
    assert stored[: len(first)] == first
    lost = set(stored) - delivered1 - delivered2
    assert set(stored) <= delivered1 | delivered2, f"lost {lost}; {(tmp_path / 'run2.log').read_text()[-400:]}"
    lines = [json.loads(x)["event_id"] for x in jsonl.read_text().splitlines()]
    assert set(lines) == set(stored)  # JSONL: at least once (a line may repeat after the SIGKILL)


def test_repeated_sink_types_get_stable_numbered_names(tmp_path):
    from plateforge.stream.app import _make_sinks

    specs = [
        str(tmp_path / "a.jsonl"),
        str(tmp_path / "b.jsonl"),
        {"type": "jsonl", "path": "c.jsonl", "name": "audit"},
    ]
    assert [s.name for s, _ in _make_sinks(specs)] == ["jsonl", "jsonl-2", "audit"]


def test_sinks_take_the_passes_of_their_camera_zone_and_direction(tmp_path):
    """A site with an entry and an exit barrier: each barrier's webhook gets the listed vehicles approaching its
    own camera; an alerts sink gets every camera's listed passes; the others are marked done unsent."""
    from plateforge.stream.app import _make_sinks
    from plateforge.stream.outbox import EventFilter

    listed = [{"list": "residents"}]
    events = [
        {"event_id": "a", "camera": "entry", "motion": "approaching", "zone": "lane", "lists": listed},
        {"event_id": "b", "camera": "entry", "motion": "receding", "zone": "lane", "lists": listed},
        {"event_id": "c", "camera": "exit", "motion": "approaching", "zone": None, "lists": listed},
        {"event_id": "d", "camera": "entry", "motion": "approaching", "zone": "lane", "lists": []},
    ]
    specs = [
        {"type": "jsonl", "path": str(tmp_path / "in.jsonl"), "name": "entry-gate",
         "only_cameras": "entry", "only_motion": ["approaching"], "only_lists": ["residents"]},
        {"type": "jsonl", "path": str(tmp_path / "out.jsonl"), "name": "exit-gate", "only_cameras": ["exit"]},
        {"type": "jsonl", "path": str(tmp_path / "lane.jsonl"), "name": "lane", "only_zones": ["lane"]},
    ]  # fmt: skip
    sinks = _make_sinks(specs, ["residents"], ["entry", "exit"], ["lane"])
    assert sinks[0][1] == EventFilter(frozenset({"residents"}), frozenset({"entry"}), None, frozenset({"approaching"}))
    ob = Outbox(tmp_path / "o.sqlite")
    dispatchers = [Dispatcher(ob, s, only=only, backoff_start=0.05).start() for s, only in sinks]
    for e in events:
        ob.put(e)
    try:
        assert all(d.drain(10) for d in dispatchers)
    finally:
        for d in dispatchers:
            d.stop()
    got = {n: [json.loads(x)["event_id"] for x in (tmp_path / f"{n}.jsonl").read_text().splitlines()]
           for n in ("in", "out", "lane")}  # fmt: skip
    assert got == {"in": ["a"], "out": ["c"], "lane": ["a", "b", "d"]}
    assert [d.skipped for d in dispatchers] == [3, 3, 1]
    bad = [
        ({"only_cameras": ["gate"]}, r"only_cameras \['gate'\] must name the site's cameras \['entry', 'exit'\]"),
        ({"only_zones": "road"}, r"only_zones \['road'\] must name the cameras' zone names \['lane'\]"),
        ({"only_motion": "in"}, r"only_motion \['in'\] must name one of \['approaching', 'receding', 'steady'\]"),
        ({"only_cameras": []}, r"only_cameras \[\] must name"),
    ]
    for extra, message in bad:
        with pytest.raises(ValueError, match=message):
            _make_sinks([{"type": "jsonl", "path": "x.jsonl", **extra}], ["residents"], ["entry", "exit"], ["lane"])
