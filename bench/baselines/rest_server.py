#!/usr/bin/python3
"""Baseline: the typical Python REST model server a team migrates away from
(FastAPI + uvicorn, Debian's packages), serving the same recommender model at
POST /v1/recommendations with protoserve's JSON shape.

    /usr/bin/python3 bench/baselines/rest_server.py --repo build/model_repository --port 8080
"""
import argparse
import os
import sys
from typing import List

import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

sys.path.insert(0, os.path.dirname(__file__))
from common import RecommenderModel  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Query(BaseModel):
    user_id: str
    features: List[float]
    top_k: int = 10


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", default=os.path.join(ROOT, "build", "model_repository"))
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()

    model = RecommenderModel(args.repo)
    app = FastAPI()

    @app.post("/v1/recommendations")
    def recommend(query: Query):
        try:
            items, scores = model.recommend(query.user_id, query.features, query.top_k)
        except ValueError as e:
            raise HTTPException(status_code=400, detail=str(e))
        return {"item_ids": items, "scores": scores}

    print(f"HTTP listening on {args.address}:{args.port}", flush=True)
    uvicorn.run(app, host=args.address, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
