"""What HTTP adds to a read: ``plateforge serve``'s reader called directly against the same photo sent to
``POST /v1/read`` (raw JPEG body, one request at a time), p50 / p95 in ms, then requests per second with
``--clients`` requests in flight at once. The server runs in this process on a free loopback port with the
reader ``plateforge serve`` builds by default (INT8 detector), ``--threads`` ONNX Runtime threads per model.

    python benchmarks/server_bench.py [--runs 100] [--threads 1] [--clients 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import httpx
import numpy as np
import uvicorn

from plateforge.eval.det_eval import synthetic_scenes
from plateforge.runtime.options import ReaderOptions, make_alpr
from plateforge.server import create_app


def photo_with_one_plate() -> bytes:
    """A 1280x720 synthetic scene with one plate, as JPEG (quality 90)."""
    for img, t in synthetic_scenes(50, seed=4242):
        if len(t.boxes) == 1:
            return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    raise RuntimeError("no one-plate scene among 50")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ms(values: list[float]) -> dict:
    a = np.array(values) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per model")
    ap.add_argument("--clients", type=int, default=2, help="requests in flight at once for the throughput run")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    photo = photo_with_one_plate()
    alpr = make_alpr(ReaderOptions(threads=args.threads))
    app = create_app(alpr)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/v1/read"
    direct, http = [], []
    with httpx.Client(timeout=30) as client:
        plates = client.post(url, content=photo).json()["results"][0]["plates"]
        for _ in range(args.runs):  # alternate, so that a drifting machine slows both alike
            t = time.perf_counter()
            alpr.read_timed(photo)
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            r = client.post(url, content=photo, headers={"Content-Type": "image/jpeg"})
            http.append(time.perf_counter() - t)
            r.raise_for_status()

        def one(_):
            return client.post(url, content=photo).status_code

        n = args.runs * 2
        t = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            codes = list(pool.map(one, range(n)))
        rate = n / (time.perf_counter() - t)
    server.should_exit = True
    thread.join(timeout=10)
    report = {
        "photo": "1280x720 JPEG, one plate",
        "plates_read": [p["text"] for p in plates],
        "threads_per_model": args.threads,
        "direct": ms(direct),
        "http": ms(http),
        "http_overhead_p50_ms": round((np.median(http) - np.median(direct)) * 1000, 2),
        "clients": args.clients,
        "requests_per_s": round(rate, 1),
        "failed_requests": sum(c != 200 for c in codes),
    }
    print(f"photo 1280x720 JPEG, plates read {report['plates_read']}, {args.threads} thread(s) per model")
    print(f"direct read_timed   p50 {report['direct']['p50_ms']:7.2f} ms  p95 {report['direct']['p95_ms']:7.2f} ms")
    print(f"POST /v1/read       p50 {report['http']['p50_ms']:7.2f} ms  p95 {report['http']['p95_ms']:7.2f} ms")
    print(f"HTTP adds {report['http_overhead_p50_ms']:.2f} ms at p50; {args.clients} clients: {rate:.1f} requests/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
