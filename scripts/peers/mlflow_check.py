"""Reads gpuflow runs back from an MLflow tracking server with MLflow's own client.

Usage: mlflow_check.py URI GPUFLOW_RUN_ID...
Prints one JSON object per gpuflow run id: the MLflow run found by its gpuflow.run_id tag
(mlflow.search_runs), its status, params and tags, every metric's full history by step
(MlflowClient().get_metric_history) and its artifacts with their SHA-256 (downloaded).
"""
import hashlib
import json
import os
import sys
import tempfile

import mlflow
from mlflow.tracking import MlflowClient


def artifacts(client, run_id, path=None):
    out = []
    for a in client.list_artifacts(run_id, path):
        if a.is_dir:
            out += artifacts(client, run_id, a.path)
        else:
            out.append(a.path)
    return out


def main():
    uri, ids = sys.argv[1], sys.argv[2:]
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    experiments = [e.name for e in client.search_experiments()]
    result = {}
    for gid in ids:
        df = mlflow.search_runs(experiment_names=experiments, filter_string=f"tags.`gpuflow.run_id` = '{gid}'")
        if len(df) != 1:
            result[gid] = {"found": int(len(df))}
            continue
        run = client.get_run(df.run_id[0])
        metrics = {}
        for key in run.data.metrics:
            metrics[key] = [[m.step, m.value] for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]
        hashes = {}
        with tempfile.TemporaryDirectory() as d:
            for p in artifacts(client, run.info.run_id):
                local = client.download_artifacts(run.info.run_id, p, d)
                with open(local, "rb") as f:
                    hashes[p] = hashlib.sha256(f.read()).hexdigest()
        result[gid] = {
            "found": 1,
            "experiment": client.get_experiment(run.info.experiment_id).name,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "start_time": run.info.start_time,
            "params": run.data.params,
            "tags": {k: v for k, v in run.data.tags.items()},
            "metrics": metrics,
            "artifacts": hashes,
            # search_runs' own view (its DataFrame columns), as a team's notebook reads it.
            "search_columns": sorted(c for c in df.columns if c.startswith(("params.", "metrics.", "tags."))),
        }
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
