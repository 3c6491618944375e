"""What HTTP adds to a read: ``plateforge serve``'s reader called directly against the same photos sent to
``POST /v1/read`` (raw JPEG body, one request at a time; ``--photos`` one-plate photos taken in turn, so that
a plate that happens to be read twice does not decide the numbers), p50 / p95 in ms, then requests per second with
``--clients`` requests in flight at once. The server runs in this process on a free loopback port with the
reader ``plateforge serve`` builds without a config (as ``plateforge read`` reads; ``--int8``: the INT8 detector
with the one-step letterbox, as ``serve --int8``), ``--threads`` ONNX Runtime threads per model.

    python benchmarks/server_bench.py [--runs 100] [--threads 1] [--clients 2] [--int8] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
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
from plateforge.runtime.options import make_alpr
from plateforge.server import create_app
from plateforge.server.app import default_reader


def photos_with_one_plate(n: int) -> list[bytes]:
    """``n`` 1280x720 synthetic scenes with one plate each, as JPEG (quality 90)."""
    photos = []
    for img, t in synthetic_scenes(20 * n, seed=4242):
        if len(t.boxes) == 1:
            photos.append(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
            if len(photos) == n:
                return photos
    raise RuntimeError(f"fewer than {n} one-plate scenes among {20 * n}")


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
    ap.add_argument("--photos", type=int, default=20, help="one-plate 1280x720 photos, taken in turn")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per model")
    ap.add_argument("--clients", type=int, default=2, help="requests in flight at once for the throughput run")
    ap.add_argument("--int8", action="store_true", help="INT8 detector and one-step letterbox (serve --int8)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    photos = photos_with_one_plate(args.photos)
    reader = dataclasses.replace(default_reader(), threads=args.threads, int8=args.int8, fast_resize=args.int8)
    alpr = make_alpr(reader)
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
        plates = client.post(url, content=photos[0]).json()["results"][0]["plates"]
        for k in range(args.runs):  # alternate, so that a drifting machine slows both alike
            photo = photos[k % len(photos)]
            t = time.perf_counter()
            alpr.read_timed(photo)
            direct.append(time.perf_counter() - t)
            t = time.perf_counter()
            r = client.post(url, content=photo, headers={"Content-Type": "image/jpeg"})
            http.append(time.perf_counter() - t)
            r.raise_for_status()

        def one(k):
            return client.post(url, content=photos[k % len(photos)]).status_code

        n = args.runs * 2
        t = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            codes = list(pool.map(one, range(n)))
        rate = n / (time.perf_counter() - t)
    server.should_exit = True
    thread.join(timeout=10)
    report = {
        "photos": f"{len(photos)} 1280x720 JPEGs, one plate each",
        "plates_read_first_photo": [p["text"] for p in plates],
        "threads_per_model": args.threads,
        "detector": "INT8, one-step letterbox" if args.int8 else "FP32, two-step letterbox",
        "direct": ms(direct),
        "http": ms(http),
        "http_overhead_p50_ms": round((np.median(http) - np.median(direct)) * 1000, 2),
        "clients": args.clients,
        "requests_per_s": round(rate, 1),
        "failed_requests": sum(c != 200 for c in codes),
    }
    print(f"{report['photos']}, {report['detector']} detector, {args.threads} thread(s) per model")
    print(f"direct read_timed   p50 {report['direct']['p50_ms']:7.2f} ms  p95 {report['direct']['p95_ms']:7.2f} ms")
    print(f"POST /v1/read       p50 {report['http']['p50_ms']:7.2f} ms  p95 {report['http']['p95_ms']:7.2f} ms")
    print(f"HTTP adds {report['http_overhead_p50_ms']:.2f} ms at p50; {args.clients} clients: {rate:.1f} requests/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
