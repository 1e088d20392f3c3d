"""A day's shots as a small graph: which shot each one starts from, and the order they render in.

A shot depends on the scene's shot before it (`start_from` previous: it starts from that shot's last
frame) or on the row it restyles (`restyle_of`). Rows are plain dicts (prompt snapshot rows).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]


def scene_shots(rows: Iterable[Row]) -> dict[str, list[Row]]:
    """Each scene's rows in play order: scene_order, then prompt_id (rows without an order go last)."""
    scenes: dict[str, list[Row]] = {}
    for row in rows:
        if row.get("scene"):
            scenes.setdefault(row["scene"], []).append(row)
    for shots in scenes.values():
        shots.sort(key=lambda r: (r.get("scene_order") is None, r.get("scene_order") or 0, r["prompt_id"]))
    return scenes


def previous_shots(rows: Iterable[Row]) -> dict[str, str | None]:
    """For each row that starts from the previous shot: that shot's prompt_id (None: it is the first)."""
    found: dict[str, str | None] = {}
    for shots in scene_shots(rows).values():
        for index, row in enumerate(shots):
            if row.get("start_from") == "previous":
                found[row["prompt_id"]] = shots[index - 1]["prompt_id"] if index else None
    return found


def dependencies(rows: Sequence[Row]) -> dict[str, dict[str, str]]:
    """Each dependent row's inputs from other rows: {"previous": id} and/or {"source": id}."""
    deps: dict[str, dict[str, str]] = {}
    for prompt_id, previous in previous_shots(rows).items():
        if previous:
            deps.setdefault(prompt_id, {})["previous"] = previous
    for row in rows:
        if row.get("restyle_of"):
            deps.setdefault(row["prompt_id"], {})["source"] = row["restyle_of"]
    return deps


def render_order(ids: Sequence[str], deps: Mapping[str, Mapping[str, str]]) -> tuple[list[str], list[list[str]]]:
    """`ids` with every row after the rows it depends on (stable otherwise), and the cycles found.

    Rows on a cycle, or depending on one, are left out of the order; each cycle is listed once.
    """
    state: dict[str, int] = {}  # 1: being visited, 2: done
    order: list[str] = []
    cycles: list[list[str]] = []
    known = set(ids)

    def visit(node: str, path: list[str]) -> bool:
        if state.get(node) == 2:
            return node in placed
        if state.get(node) == 1:
            cycles.append(path[path.index(node):] + [node])
            return False
        state[node] = 1
        ok = all(visit(dep, path + [node]) for dep in deps.get(node, {}).values() if dep in known)
        state[node] = 2
        if ok:
            placed.add(node)
            order.append(node)
        return ok

    placed: set[str] = set()
    for node in ids:
        visit(node, [])
    return order, cycles


def scene_chain(rows: Iterable[Row], scene: str) -> str:
    """The scene's shots in play order, each with what it is made from: how `vidgen lineage` shows a scene."""
    parts = []
    for row in scene_shots(rows).get(scene, []):
        made = []
        if row.get("start_from") == "previous":
            made.append("continues the shot before")
        if row.get("end_prompt"):
            made.append(f"ends on {row['end_prompt'][:40]!r}")
        if row.get("restyle_of") or row.get("source_uri"):
            made.append(f"restyles {row.get('restyle_of') or row.get('source_uri')}")
        parts.append(row["prompt_id"] + (f" ({', '.join(made)})" if made else ""))
    return f"{scene}: " + " → ".join(parts)


def components(ids: Sequence[str], deps: Mapping[str, Mapping[str, str]]) -> list[list[str]]:
    """Rows grouped by the shots that tie them together (a row alone is its own group), in `ids` order."""
    parent = {node: node for node in ids}

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for node, inputs in deps.items():
        for dep in inputs.values():
            if node in parent and dep in parent:
                parent[root(node)] = root(dep)
    groups: dict[str, list[str]] = {}
    for node in ids:
        groups.setdefault(root(node), []).append(node)
    return list(groups.values())
