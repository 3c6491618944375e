"""Video: frame sources, plate tracking, per-track OCR throttling and text voting, plate events, the SQLite
outbox and the sinks it delivers to (JSONL, Kafka, MQTT, webhook), and Prometheus metrics."""
