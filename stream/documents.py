"""Configuration documents users edit (routing rules, SLA policy): YAML, or JSON by suffix, validated by a
pydantic model, refused with an error that names the file, the place and the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["load_document", "problem_list", "problems"]

M = TypeVar("M", bound=BaseModel)


def problem_list(exc: ValidationError, root: str) -> list[str]:
    """Where and why pydantic refused a document, one line per problem."""
    return [
        f"{'.'.join(str(p) for p in e['loc']) or root}: {e['msg']}" for e in exc.errors(include_url=False)
    ]


def problems(exc: ValidationError, root: str) -> str:
    return "; ".join(problem_list(exc, root))


def load_document(path: Path, model: type[M], what: str, error: type[ValueError]) -> M:
    """``what`` names the document in messages ("routing rules", "SLA policy"); ``error`` is raised."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise error(f"{what} {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(f"{what} {path} is invalid: {problems(exc, what)}") from None
