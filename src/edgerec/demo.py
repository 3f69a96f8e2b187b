"""The built-in demo shop: a generated catalog and generated shopper sessions (all ours).

Shoppers have a favourite category and walk through "collections" (items that belong together),
so there is real sequential signal for a model to learn.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

CATEGORIES = {
    "skincare": ("Serum", "Moisturiser", "Cleanser", "Toner", "Eye Cream", "Face Mask"),
    "makeup": ("Lipstick", "Mascara", "Foundation", "Blush", "Eyeliner", "Concealer"),
    "haircare": ("Shampoo", "Conditioner", "Hair Oil", "Hair Mask", "Styling Gel", "Dry Shampoo"),
    "fragrance": (
        "Eau de Parfum",
        "Eau de Toilette",
        "Body Mist",
        "Perfume Oil",
        "Cologne",
        "Scented Candle",
    ),
    "toys": ("Puzzle", "Building Set", "Plush Bear", "Board Game", "Toy Car", "Kite"),
    "kitchen": ("Chef Knife", "Frying Pan", "Cutting Board", "Espresso Cup", "Teapot", "Whisk"),
}
ADJECTIVES = (
    "Aurora",
    "Velvet",
    "Citrus",
    "Midnight",
    "Coral",
    "Alpine",
    "Golden",
    "Misty",
    "Ember",
    "Lunar",
    "Sage",
    "Cobalt",
)


def build_demo(directory: Path, users: int = 3000, seed: int = 7) -> tuple[Path, Path]:
    """Write ``catalog.csv`` (item_id,name,category) and ``events.csv``; return both paths."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    items: list[tuple[str, str, str]] = []
    for category, nouns in CATEGORIES.items():
        for adjective in ADJECTIVES:
            for noun in nouns:
                item_id = f"{category[:3].upper()}-{len(items):05d}"
                items.append((item_id, f"{adjective} {noun}", category))
    by_category: dict[str, list[int]] = {}
    for index, (_, _, category) in enumerate(items):
        by_category.setdefault(category, []).append(index)
    catalog = directory / "catalog.csv"
    with catalog.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "name", "category"])
        writer.writerows(items)
    events = directory / "events.csv"
    start = 1_767_225_600  # 2026-01-01T00:00:00Z
    with events.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["user_id", "item_id", "timestamp", "event_type"])
        names = list(by_category)
        for user in range(users):
            favourite = by_category[names[int(rng.integers(len(names)))]]
            current = favourite[int(rng.integers(len(favourite)))]
            clock = start + int(rng.integers(0, 86_400 * 60))
            for _ in range(int(rng.integers(4, 16))):
                kind = "purchase" if rng.random() < 0.1 else "view"
                writer.writerow([f"shopper-{user:05d}", items[current][0], clock, kind])
                clock += int(rng.integers(20, 600))
                # Mostly the next piece of the same collection, sometimes a jump in the category.
                pool = favourite if rng.random() < 0.25 else None
                current = (
                    favourite[int(rng.integers(len(favourite)))]
                    if pool
                    else (current + 1) % len(items)
                )
    return catalog, events
