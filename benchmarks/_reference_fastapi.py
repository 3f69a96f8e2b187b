"""The service most teams would write: FastAPI + the PyTorch model in eager mode.

Same artifact, same SQLite history, same answer shape; used only as a speed reference.
    uvicorn benchmarks._reference_fastapi:app   (EDGEREC_ARTIFACT, EDGEREC_DB set)
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import torch
from fastapi import FastAPI

from edgerec.train._sasrec_torch import SASRecNet

ARTIFACT = Path(os.environ["EDGEREC_ARTIFACT"])
manifest = json.loads((ARTIFACT / "manifest.json").read_text())
config = manifest["config"]["sasrec"]
ids: list[str] = np.load(ARTIFACT / "items.npy").tolist()
index = {item: position for position, item in enumerate(ids)}
net = SASRecNet(
    len(ids),
    config["embedding_size"],
    config["max_len"],
    config["num_layers"],
    config["num_heads"],
    0.0,
    0.0,
)
weights = dict(np.load(ARTIFACT / "encoder.npz"))
state: dict[str, Any] = {
    "item_emb.weight": torch.cat(
        [
            torch.from_numpy(np.load(ARTIFACT / "item_emb_f16.npy").astype(np.float32)),
            torch.zeros(1, config["embedding_size"]),
        ]
    ),
    "pos_emb.weight": weights["pos_emb"],
    "emb_ln.weight": weights["emb_ln.g"],
    "emb_ln.bias": weights["emb_ln.b"],
}
for layer in range(config["num_layers"]):
    for name in ("q", "k", "v", "o", "ff1", "ff2"):
        state[f"blocks.{layer}.{name}.weight"] = weights[f"l{layer}.{name}.w"].T
        state[f"blocks.{layer}.{name}.bias"] = weights[f"l{layer}.{name}.b"]
    for name in ("ln1", "ln2"):
        state[f"blocks.{layer}.{name}.weight"] = weights[f"l{layer}.{name}.g"]
        state[f"blocks.{layer}.{name}.bias"] = weights[f"l{layer}.{name}.b"]
net.load_state_dict(
    {key: torch.as_tensor(np.ascontiguousarray(value)) for key, value in state.items()}
)
net.eval()
db = sqlite3.connect(os.environ["EDGEREC_DB"], check_same_thread=False)
app = FastAPI()


@app.get("/v1/users/{user_id}/recommendations")
def recommend(user_id: str, k: int = 10) -> dict[str, Any]:
    rows = db.execute(
        "SELECT item_id FROM events WHERE user_id = ? ORDER BY id DESC LIMIT 50", (user_id,)
    ).fetchall()
    history = [index[row[0]] for row in reversed(rows) if row[0] in index]
    seq = torch.full((1, config["max_len"]), len(ids), dtype=torch.long)
    if history:
        seq[0, -len(history) :] = torch.tensor(history[-config["max_len"] :])
    with torch.no_grad():
        scores = net(seq)[0, -1] @ net.item_table().T
        scores[history] = -torch.inf
        top = torch.topk(scores, k)
    return {
        "ok": True,
        "user_id": user_id,
        "items": [
            {"item_id": ids[i], "score": float(s)}
            for s, i in zip(top.values, top.indices, strict=True)
        ],
    }
