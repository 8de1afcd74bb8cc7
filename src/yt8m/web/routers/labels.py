"""``GET /api/labels``: the class names the server predicts with."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam

from yt8m.web.errors import NotFound
from yt8m.web.state import AppState, get_state

router = APIRouter(prefix="/api/labels", tags=["labels"])


@router.get("")
def labels(state: Annotated[AppState, Depends(get_state)]) -> dict[str, Any]:
    """Every class: ``names[i]`` is class i (null where the label map has no name).

    Without a classifier, the label map's classes (503 when there is none either)."""
    resources = state.resources
    count = resources.num_classes
    return {"source": resources.labels.source if resources.labels else None, "num_classes": count,
            "names": [resources.label_name(i) for i in range(count)]}


@router.get("/{index}")
def label(index: Annotated[int, PathParam(ge=0)],
          state: Annotated[AppState, Depends(get_state)]) -> dict[str, Any]:
    """One class by index."""
    count = state.resources.num_classes
    if index >= count:
        raise NotFound(f"class {index} is beyond the model's {count} classes")
    return {"index": index, "name": state.resources.label_name(index)}
