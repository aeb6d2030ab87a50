"""Config validation: the schema fills defaults and any bad value fails with one line naming the key.

Snakemake's own `validate` prints the whole schema on failure; users need the dotted key instead.
Settings are named by dotted keys ('train.regressor.stem_channels'): `schema_leaves` lists them and
`get_path`, `has_path` and `set_path` are the one walk over a config by such a key.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from pathlib import Path
from typing import Any, Mapping

import yaml
from jsonschema import Draft202012Validator, validators

from infonas.errors import InfonasError
from infonas.models.variants import uses_labels

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


def _with_defaults(validator_class):
    """A jsonschema validator that fills `default` values while it validates (nested ones too)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


#: A float written without a dot ('1e-3', '-2E+5'): YAML 1.2 reads it as a number, PyYAML (YAML 1.1) as text.
_FLOAT_WITHOUT_DOT = re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$")


class StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, strict where a config file is silently misread otherwise.

    A duplicate key (two variants named `a`) would keep only the last value: it is refused with the
    file, line and key. `1e-3` would be the string '1e-3': it is the number a user means.
    """

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) or key is None:
                if key in seen:
                    mark = key_node.start_mark
                    raise InfonasError(f"{mark.name}:{mark.line + 1}: duplicate key '{key}' (first on line "
                                       f"{seen[key] + 1}); a YAML mapping keeps only one value per key")
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_WITHOUT_DOT, list("-+0123456789"))


def load_yaml(path: str | Path) -> Any:
    """A YAML (or JSON) config file read with `StrictLoader`; a syntax error is one line naming the file."""
    try:
        with open(path) as handle:
            return yaml.load(handle, Loader=StrictLoader)
    except FileNotFoundError:
        raise InfonasError(f"{path}: config file not found") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise InfonasError(f"{where}: not valid YAML ({getattr(error, 'problem', None) or error})") from None


def load_config_files(paths) -> dict[str, Any]:
    """Config files merged in order, key by key (as Snakemake merges --configfile), read strictly."""
    config: dict[str, Any] = {}
    for path in paths:
        content = load_yaml(path) or {}
        if not isinstance(content, dict):
            raise InfonasError(f"{path}: a config file is a mapping of settings, not {type(content).__name__}")
        _merge(config, content)
    return config


def _merge(config: dict, overlay: Mapping) -> None:
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(config.get(key), dict):
            _merge(config[key], value)
        else:
            config[key] = copy.deepcopy(value)


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    return load_yaml(path)


def validate_config(config: dict[str, Any], schema: dict | None = None) -> dict[str, Any]:
    """Fill defaults into `config` in place and return it; raise InfonasError naming the first bad key."""
    schema = load_schema() if schema is None else schema
    _numbers_as_numbers(config, schema)
    validator = _with_defaults(Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        key = ".".join(str(p) for p in error.absolute_path) or "<top level>"
        raise InfonasError(f"config key '{key}': {error.message}")
    _check_cross_field(config)
    return config


def _numbers_as_numbers(value: Any, schema: dict) -> Any:
    """Read numbers as the schema means them, wherever it asks for one.

    6.0 becomes 6 where an integer is asked (YAML and --config write 6.0 easily; JSON schema accepts
    it, range(6.0) does not); '1e-3' becomes 0.001 where a number is asked and text is not (Snakemake
    reads config files and --config with YAML 1.1, which takes a float without a dot for text). A
    non-integral float or other text is left for the validator to reject with the key's name.
    """
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, str) and "number" in types and "string" not in types and _FLOAT_WITHOUT_DOT.match(value):
        return float(value.replace("_", ""))
    if isinstance(value, float) and "integer" in types and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key, sub in value.items():
            if key in props:
                value[key] = _numbers_as_numbers(sub, props[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        value[:] = [_numbers_as_numbers(v, schema["items"]) for v in value]
    return value


def _check_cross_field(config: dict[str, Any]) -> None:
    """Rules a JSON schema cannot express cleanly."""
    space = config["searchspace"]
    if space["source"] == "tfrecord" and not space.get("tfrecord"):
        raise InfonasError("config key 'searchspace.tfrecord': required when searchspace.source is 'tfrecord'")
    if space["source"] == "tfrecord" and space.get("metrics_csv") == "builtin":
        raise InfonasError("config key 'searchspace.metrics_csv': 'builtin' would replace the tfrecord's own "
                           "NB-101 metrics with those of 20,001 cells; set it to null with source 'tfrecord'")
    if space.get("only_with_metrics") and space["source"] == "enumerate" and not space.get("metrics_csv"):
        raise InfonasError("config key 'searchspace.only_with_metrics': the enumerated space has metrics only "
                           "from searchspace.metrics_csv (e.g. builtin), which is not set")
    saved = saved_epochs(config["train"]["epochs"], config["train"]["checkpoint_every"])
    missing = sorted(set(config["evaluate"]["embed_epochs"]) - set(saved))
    if missing and any(uses_labels(m) for m in config["train"]["models"]):
        raise InfonasError(
            f"config key 'evaluate.embed_epochs': epoch {missing[0]} has no checkpoint (saved epochs: {saved})"
        )
    images = config["images"]
    if images["source"] in ("imagefolder",) and not images.get("root"):
        raise InfonasError("config key 'images.root': required when images.source is 'imagefolder'")


def saved_epochs(epochs: int, checkpoint_every: int) -> list[int]:
    """Epochs whose weights training keeps: every k-th and the last (what `embed` can use)."""
    return sorted(set(range(checkpoint_every, epochs + 1, checkpoint_every)) | {epochs})


def dataclass_from_section(cls, section: dict[str, Any], where: str, ignore: tuple[str, ...] = ()):
    """Build a settings dataclass from a config section; keys it lacks name themselves.

    `ignore` lists section keys that are workflow concerns (e.g. GPU resources), not settings.
    """
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - fields - set(ignore))
    if unknown:
        raise InfonasError(f"config key '{where}.{unknown[0]}': not a setting of {cls.__name__}")
    return cls(**{k: v for k, v in section.items() if k in fields})


# ------------------------------------------------------------------------------------------ dotted keys
def schema_leaves(schema: dict | None = None) -> list[str]:
    """Dotted names of every setting: schema properties without sub-properties."""
    schema = load_schema() if schema is None else schema
    out: list[str] = []

    def walk(node: dict, prefix: str) -> None:
        for name, sub in node.get("properties", {}).items():
            key = f"{prefix}{name}"
            if sub.get("properties") and key != "sweep":
                walk(sub, key + ".")
            else:
                out.append(key)

    walk(schema, "")
    return out


def _lookup(config: Mapping, key: str) -> tuple[bool, Any]:
    """(whether 'a.b' is present, config[a][b] or None)."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def get_path(config: Mapping, key: str) -> Any:
    """config[a][b] for 'a.b'; None where a schema leaf without a default is absent."""
    return _lookup(config, key)[1]


def has_path(config: Mapping, key: str) -> bool:
    """Whether config has the dotted key 'a.b' (a leaf left out, e.g. predictor params, has not)."""
    return _lookup(config, key)[0]


def set_path(config: dict, key: str, value: Any) -> None:
    """config[a][b] = value for 'a.b', creating the sections on the way."""
    parts = key.split(".")
    node = config
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = copy.deepcopy(value)
