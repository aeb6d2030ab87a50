"""The variants of a run, from the config's `sweep` section.

A sweep is a set of named comparisons, each either a cross product of axes or an explicit list of
named variants, every axis a dotted schema key. Without a sweep the run has one variant, `base`.
Each variant is the base config with its overrides, validated like any config, so a bad axis key or
value fails before any job starts and names the comparison and variant. `infonas.plan` turns the
variants into stage digests.

Light on purpose (no torch, no snakemake): the Snakefile calls it while it builds the DAG.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from infonas.config import schema_leaves, set_path, validate_config
from infonas.errors import InfonasError

COLUMN_GROUPS = ("scaling", "lr_loss", "loss_weights")
BASE_VARIANT = "base"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.,=+-]*$")
#: Keys that say where or how jobs run: properties of the whole invocation, which a sweep cannot vary.
INVOCATION_KEYS = ("run", "device", "cache_dir", "store_dir", "download_timeout_s", "sweep")


@dataclass
class Comparison:
    """Variants compared in one table group; `varied` maps each variant to its distinguishing settings."""

    name: str
    varied: dict[str, dict[str, Any]]
    columns: str
    epoch: int | None = None  # the epoch its tables report (None: each variant's last)
    evaluate: bool = True  # False: its variants only train (thesis 4.1 ran no search on them)


def _format_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "-".join(_format_value(v) for v in value)
    return str(value)


def _short_names(keys: list[str]) -> dict[str, str]:
    """The last component of each dotted key, or the whole key where two would read the same."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def _product_variants(where: str, axes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    if not isinstance(axes, Mapping) or not axes:
        raise InfonasError(f"config key '{where}.product': expected a mapping of setting -> list of values")
    for key, values in axes.items():
        if not isinstance(values, list) or not values:
            raise InfonasError(f"config key '{where}.product.{key}': expected a non-empty list of values")
    keys = list(axes)
    short = _short_names(keys)
    out = {}
    for combo in itertools.product(*(axes[k] for k in keys)):
        name = ",".join(f"{short[k]}={_format_value(v)}" for k, v in zip(keys, combo))
        out[name] = dict(zip(keys, combo))
    return out


def _check_axis(where: str, key: str, leaves: set[str]) -> None:
    if key in INVOCATION_KEYS:
        raise InfonasError(f"config key '{where}': '{key}' is a property of the whole invocation and cannot vary")
    if key not in leaves:
        raise InfonasError(f"config key '{where}': '{key}' is not a setting (see schemas/config.schema.yaml)")


def sweep_variants(config: Mapping, leaves: list[str] | None = None) -> tuple[dict[str, dict], dict[str, Comparison]]:
    """(variant name -> overrides, comparison name -> Comparison) of the config's `sweep` section.

    A variant's overrides are the comparison's shared `set` plus its own; a name used by two
    comparisons must mean the same settings in both (they then share every file).
    """
    leaves_set = set(schema_leaves() if leaves is None else leaves)
    sweep = config.get("sweep") or {}
    if not sweep:
        return {BASE_VARIANT: {}}, {}
    variants: dict[str, dict] = {}
    comparisons: dict[str, Comparison] = {}
    for comp_name, spec in sweep.items():
        where = f"sweep.{comp_name}"
        if not _NAME.match(comp_name):
            raise InfonasError(f"config key '{where}': a comparison name is letters, digits and _.,=+- only")
        if "product" in spec:
            members = _product_variants(where, spec["product"])
        else:
            members = {name: dict(overrides or {}) for name, overrides in spec["variants"].items()}
        shared = dict(spec.get("set") or {})
        for name, own in members.items():
            overrides = {**shared, **own}
            if not _NAME.match(name):
                raise InfonasError(f"config key '{where}': variant name '{name}' is not a plain name "
                                   "(letters, digits and _.,=+- only)")
            for key in overrides:
                _check_axis(f"{where}.{name}", key, leaves_set)
            if name in variants and variants[name] != overrides:
                raise InfonasError(f"config key '{where}': variant '{name}' is defined twice with different settings")
            variants[name] = overrides
        columns = spec.get("columns") or (comp_name if comp_name in COLUMN_GROUPS else "all")
        comparisons[comp_name] = Comparison(comp_name, members, columns, spec.get("epoch"), spec.get("evaluate", True))
    return variants, comparisons


def variant_config(base: Mapping, name: str, overrides: Mapping[str, Any]) -> dict:
    """The base config with one variant's overrides, validated; errors name the variant."""
    config = copy.deepcopy(dict(base))
    config.pop("sweep", None)
    for key, value in overrides.items():
        set_path(config, key, value)
    try:
        return validate_config(config)
    except InfonasError as error:
        raise InfonasError(f"sweep variant '{name}': {error}") from None
