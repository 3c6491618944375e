#!/usr/bin/env bash
# Builds the real-data manifests the training configs read, from ../shared/data/real (never committed).
set -euo pipefail
REAL=${REAL:-../shared/data/real}
mkdir -p data
plateforge data import "$REAL/us-plate-crops/labels.csv" --out data/us_crops.jsonl --overwrite
plateforge data split data/us_crops.jsonl --out data/us_crops_split --val 0.2 --seed 0 --overwrite
plateforge data import "$REAL/uc3m-lp/OCR" --format uc3m-ocr --out data/uc3m_ocr.jsonl --overwrite
plateforge data import "$REAL/uc3m-lp/LP" --format yolo --out data/uc3m_lp.jsonl --overwrite
plateforge data import "$REAL/car-plates-cc0" --format voc --out data/cc0.jsonl --overwrite
plateforge data split data/cc0.jsonl --out data/cc0_split --val 0.2 --seed 0 --overwrite
plateforge data split data/uc3m_lp.jsonl --out data/uc3m_lp_split --val 0.2 --seed 0 --overwrite
# single-plate UC3M-LP scenes with their (masked) texts, cornered by the bundled corner model: recognizer
# crops cut the way the reader cuts them at run time (low resolution: the scenes are 320 px wide)
plateforge data import "$REAL/uc3m-lp" --format uc3m-scenes --out data/uc3m_scenes.jsonl --overwrite
plateforge data corners data/uc3m_scenes.jsonl --out data/uc3m_scenes_corners.jsonl --overwrite
# car-plates-cc0 plates read by eye (benchmarks/data/README.md), cornered the same way: real photos of many
# countries for recognizer training (train split) and a reader-cut check (val split)
plateforge data corners benchmarks/data/car_plates_cc0_train_texts.jsonl --out data/cc0_train_texts_corners.jsonl --overwrite
plateforge data corners benchmarks/data/car_plates_cc0_val_texts.jsonl --out data/cc0_val_texts_corners.jsonl --overwrite
