"""The workflow plan: the variants of a run and, for each stage, the digest its outputs are keyed by.

Why digests: a stage's outputs live in `<store_dir>/<stage>/<digest>/`, where the digest covers the
settings the stage reads and the digests of the stages it reads from. Two variants (or two runs) that
agree on everything a stage depends on therefore share its files, a variant that changes
`io.scaling` reruns only the scaler and what follows it, and no variant ever overwrites another's
results. `DIGEST_STAGES` below is the one place that says which setting feeds which stage; the
docs' rerun table is `rerun_table()`, printed by `python -m infonas.plan`. The variants of a run come
from its sweep (`infonas.sweep`); each has its own stage records, and variants share every record
they agree on.

Light on purpose (no torch, no snakemake): the Snakefile calls it while it builds the DAG.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml

from infonas.config import get_path, has_path, load_config_files, schema_leaves, set_path, validate_config
from infonas.errors import InfonasError
from infonas.files import atomic_path, content_fingerprint
from infonas.models.variants import uses_labels, uses_op_embeddings
from infonas.sweep import INVOCATION_KEYS, Comparison, sweep_variants, variant_config

DIGEST_LENGTH = 10

#: Keys that say where or how jobs run, or which jobs exist, but never change a result (a sweep may
#: not vary the INVOCATION_KEYS among them).
WORKFLOW_KEYS = frozenset({
    *INVOCATION_KEYS,
    "pretrain.gpu_percent", "train.gpu_percent", "train.models", "train.seeds", "evaluate.embed_epochs",
    "evaluate.raw_features",
})

#: train keys that matter only when a model learns from labeled outputs (plain arch2vec ignores them).
LABELED_TRAIN_KEYS = frozenset({
    "train.n_labeled_batches", "train.n_unlabeled_batches", "train.labeled_loss", "train.labeled_weight",
    "train.vae_weight", "train.lr", "train.n_bootstrap", "train.regressor", "train.epochs",
    "train.optimizers", "train.remove_labeled",
})
#: train keys that matter only to the plain arch2vec model.
ARCH2VEC_TRAIN_KEYS = frozenset({"train.arch2vec_epochs"})


@dataclass(frozen=True)
class Stage:
    """A stage's settings (dotted key prefixes) and the stages it reads (some configs differ: `_upstream`)."""

    keys: tuple[str, ...]
    upstream: tuple[str, ...]
    description: str


#: Every stage with a digest, in topological order. `train`, `reinforce`, `bo` and `predict` exist once
#: per model; their upstream depends on the model and the config (see `_upstream`).
DIGEST_STAGES: dict[str, Stage] = {
    "searchspace": Stage(("searchspace", "seed"), (), "rows, metrics and arch2vec split"),
    "images": Stage(("images", "seed"), (), "image splits"),
    "networks": Stage(("networks", "seed"), ("searchspace",), "sampled networks (checkpoint)"),
    "pretrain": Stage(("pretrain", "seed", "compute_threads"), ("searchspace", "images"), "one job per network"),
    "extract_io": Stage(("io.batch_size", "compute_threads"), ("pretrain",), "outputs of each pretrained network"),
    "fit_scaler": Stage(("io.scaling", "io.scaling_order"), ("networks", "extract_io"), "scaling statistics"),
    "io_dataset": Stage(("io.unseen_image_fraction", "seed"), ("fit_scaler",), "labeled splits"),
    "benchmark": Stage((), ("searchspace",), "accuracies and costs the evaluations query"),
    "random_search": Stage(("evaluate.reinforce.runs", "evaluate.reinforce.budget_s", "seed"), ("benchmark",),
                           "random-search baseline"),
    "raw_features": Stage((), ("searchspace",), "raw cell features (adjacency + one-hot ops), no training"),
    "train": Stage(("train", "compute_threads"), ("io_dataset",),
                   "one job per model and seed; embed reads its weights"),
    "evolution": Stage(("evaluate.evolution", "seed"), ("searchspace", "benchmark"),
                       "regularized-evolution baseline on the cells"),
    "reinforce": Stage(("evaluate.reinforce", "seed", "compute_threads"), ("train", "benchmark"),
                       "REINFORCE per encoder and on the raw features"),
    "bo": Stage(("evaluate.bo", "seed", "compute_threads"), ("train", "benchmark"),
                "BO (DNGO) per encoder"),
    "predict": Stage(("evaluate.predict", "seed", "compute_threads"), ("train", "benchmark"),
                     "performance predictors per encoder and on the raw features"),
}
#: the evaluations that also run on the raw cell features (`evaluate.raw_features`), keyed '<stage>:raw'
RAW = "raw"
RAW_STAGES = ("reinforce", "bo", "predict")
MODEL_STAGES = ("train", "reinforce", "bo", "predict")


# ------------------------------------------------------------------------------------------ keys
def _selected(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def stage_keys(stage: str, model: str | None = None, leaves: list[str] | None = None) -> list[str]:
    """The settings (schema leaves) a stage's digest covers, for `model` where the stage has one."""
    leaves = schema_leaves() if leaves is None else leaves
    keys = [k for k in leaves if _selected(k, DIGEST_STAGES[stage].keys) and k not in WORKFLOW_KEYS]
    if stage == "train" and model is not None:
        if not uses_labels(model):
            keys = [k for k in keys if k not in LABELED_TRAIN_KEYS]
        else:
            keys = [k for k in keys if k not in ARCH2VEC_TRAIN_KEYS]
        if not uses_op_embeddings(model):
            keys = [k for k in keys if k != "train.op_embedding_dim"]
    return keys


def metrics_file(space: Mapping) -> str | None:
    """The local file `searchspace.metrics_csv` names (`builtin`: the packaged copy), or None."""
    if not space.get("metrics_csv") or "://" in str(space["metrics_csv"]):
        return None
    from infonas.searchspace.metrics import resolve_metrics_csv  # lazy: imports pandas, needed only here

    return str(resolve_metrics_csv(space["metrics_csv"]))


def input_files(stage: str, config: Mapping) -> dict[str, str | None]:
    """Content fingerprints of the files a stage reads by path (not from another stage)."""
    cache = config.get("cache_dir")
    if stage == "searchspace":
        space = config["searchspace"]
        tfrecord = space.get("tfrecord") if space["source"] == "tfrecord" else None
        return {"tfrecord": content_fingerprint(tfrecord, cache),
                "metrics_csv": content_fingerprint(metrics_file(space), cache)}
    if stage == "images" and config["images"]["source"] == "imagefolder":
        return {"root": content_fingerprint(config["images"].get("root"), cache)}
    return {}


def has_metrics(config: Mapping) -> bool:
    """Whether the search space carries NB-101 metrics (else the benchmark uses pretrained networks)."""
    space = config["searchspace"]
    return space["source"] == "tfrecord" or bool(space.get("metrics_csv"))


def _upstream(stage: str, config: Mapping, model: str | None) -> tuple[str, ...]:
    """What a stage reads in this config: without metrics the benchmark is the pretrained networks;
    plain arch2vec trains on the search space alone; remove_labeled needs the sampled networks."""
    if stage == "benchmark" and not has_metrics(config):
        return ("searchspace", "networks", "pretrain")
    if stage == "train" and model is not None and not uses_labels(model):
        return ("searchspace",)
    features = "raw_features" if model == RAW else "train"  # the raw features are read like an embedding
    if stage == "predict" and config["evaluate"]["predict"].get("remove_labeled"):
        # the same fit pool for every encoder, plain arch2vec and the raw features too (info-NAS' script did so)
        return (features, "benchmark", "networks")
    if stage in RAW_STAGES:
        return (features, "benchmark")
    return DIGEST_STAGES[stage].upstream


# ------------------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class StageRecord:
    """One stage instance: its settings, the digests of what it reads, and its own digest."""

    stage: str
    settings: dict
    upstream: dict
    digest: str

    def to_dict(self) -> dict:
        return {"stage": self.stage, "digest": self.digest, "settings": self.settings, "upstream": self.upstream}

    def section(self, prefix: str) -> dict:
        """The settings under `prefix` as that config section's nested dict ('train.regressor.x' -> regressor.x)."""
        out: dict = {}
        for key, value in self.settings.items():
            if key.startswith(prefix + "."):
                set_path(out, key[len(prefix) + 1:], value)
        return out


def canonical(value: Any) -> Any:
    """A setting with its mappings' keys sorted: Snakemake compares params as written, so a leaf that is
    a mapping (predictor params) must not look changed when only a config file's key order differs."""
    if isinstance(value, Mapping):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def digest_of(stage: str, settings: Mapping, upstream: Mapping) -> str:
    text = json.dumps({"stage": stage, "settings": settings, "upstream": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH]


def variant_records(config: Mapping, leaves: list[str] | None = None) -> dict[str, StageRecord]:
    """Every stage instance of one validated config, keyed by stage (model stages: 'train:<model>')."""
    leaves = schema_leaves() if leaves is None else leaves
    records: dict[str, StageRecord] = {}

    def add(stage: str, model: str | None = None) -> None:
        # a leaf without a default that the config leaves out (e.g. predictor params) is not a setting
        settings = {k: canonical(get_path(config, k)) for k in stage_keys(stage, model, leaves) if has_path(config, k)}
        if model is not None and stage == "train":
            settings["model"] = model
        files = input_files(stage, config)
        if any(files.values()):
            settings["input_files"] = files
        upstream = {}
        for name in _upstream(stage, config, model):
            ref = f"{name}:{model}" if name in MODEL_STAGES and model is not None else name
            upstream[name] = records[ref].digest
        key = f"{stage}:{model}" if model is not None else stage
        records[key] = StageRecord(stage, settings, upstream, digest_of(stage, settings, upstream))

    for stage in DIGEST_STAGES:
        if stage not in MODEL_STAGES:
            add(stage)
    for model in config["train"]["models"]:
        for stage in MODEL_STAGES:
            add(stage, model)
    if config["evaluate"]["raw_features"]:
        for stage in RAW_STAGES:
            add(stage, RAW)
    return records


# ------------------------------------------------------------------------------------------ the plan
@dataclass
class Plan:
    """Variants (name -> validated config), comparisons, and every stage record by stage and digest."""

    variants: dict[str, dict]
    comparisons: dict[str, Comparison]
    by_variant: dict[str, dict[str, StageRecord]]
    records: dict[str, dict[str, StageRecord]] = field(default_factory=dict)

    def record(self, stage: str, digest: str) -> StageRecord:
        try:
            return self.records[stage][digest]
        except KeyError:
            raise InfonasError(f"no {stage} stage with digest {digest} in this run's plan") from None

    def evaluated(self, variant: str) -> bool:
        """Whether a variant's features are searched and predicted: yes unless every comparison it
        belongs to says `evaluate: false`."""
        homes = [c for c in self.comparisons.values() if variant in c.varied]
        return not homes or any(c.evaluate for c in homes)

    def config_of(self, stage: str, digest: str) -> dict:
        """The config of a variant that runs this stage instance (all that do agree on its settings
        and upstream, hence on the sizes its cluster request follows from)."""
        for name, recs in self.by_variant.items():
            if any(rec.stage == stage and rec.digest == digest for rec in recs.values()):
                return self.variants[name]
        raise InfonasError(f"no {stage} stage with digest {digest} in this run's plan")

    def digest(self, variant: str, stage: str, model: str | None = None) -> str:
        return self.by_variant[variant][f"{stage}:{model}" if model else stage].digest

    def find(self, stage: str, digest: str, target: str) -> str:
        """Digest of `target` that this stage instance reads, directly or through its upstream."""
        todo = [(stage, digest)]
        while todo:
            name, d = todo.pop()
            upstream = self.record(name, d).upstream
            if target in upstream:
                return upstream[target]
            todo += list(upstream.items())
        raise InfonasError(f"{stage} {digest} reads no {target} stage")


def build_plan(config: dict) -> Plan:
    """The plan of a config (validated here, defaults filled in place): stage records per variant."""
    validate_config(config)
    leaves = schema_leaves()
    overrides, comparisons = sweep_variants(config, leaves)
    variants = {name: variant_config(config, name, o) for name, o in overrides.items()}
    _check_comparison_epochs(comparisons, variants)
    by_variant = {name: variant_records(cfg, leaves) for name, cfg in variants.items()}
    records: dict[str, dict[str, StageRecord]] = {}
    for recs in by_variant.values():
        for rec in recs.values():
            records.setdefault(rec.stage, {})[rec.digest] = rec
    return Plan(variants, comparisons, by_variant, records)


def _check_comparison_epochs(comparisons: Mapping[str, Comparison], variants: Mapping[str, dict]) -> None:
    """A comparison's `epoch` must be one its info-NAS variants train (metrics.csv has a row per epoch);
    checked here so that a typo fails before any job instead of in the comparison's last job."""
    for name, comparison in comparisons.items():
        if comparison.epoch is None:
            continue
        for variant in comparison.varied:
            train = variants[variant]["train"]
            if any(uses_labels(m) for m in train["models"]) and comparison.epoch > train["epochs"]:
                raise InfonasError(f"config key 'sweep.{name}.epoch': variant '{variant}' trains epochs 1-"
                                   f"{train['epochs']} (train.epochs), not epoch {comparison.epoch}")


def write_variant_config(path, config: Mapping, stages: Mapping[str, Mapping], store_dir: str) -> None:
    """The variant's config and, per stage, its digest, folder and settings: what made its results."""
    folders = {key: {**rec, "folder": f"{store_dir}/{rec['stage']}/{rec['digest']}"} for key, rec in stages.items()}
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump({"config": dict(config), "stages": folders}, sort_keys=False))


# ------------------------------------------------------------------------------------------ reruns
def rerun_table(config: Mapping) -> dict[str, list[str]]:
    """Setting -> the stages a change of it reruns in this (validated, single-variant) config.

    A stage reruns when a setting it covers changes, and so does every stage that reads from it,
    directly or not; the edges are this config's own (e.g. the benchmark reads the pretrained
    networks only when the search space has no metrics). Moving the store reruns everything; moving
    the cache (cells, downloads) reruns the search space and what reads it. Keys that add jobs (seeds,
    models, epochs to embed, sweep variants) or only move reports (run) rerun nothing that exists.
    """
    leaves = schema_leaves()
    records = variant_records(config, leaves)
    readers: dict[str, set[str]] = {}
    for rec in records.values():
        for name in rec.upstream:
            readers.setdefault(name, set()).add(rec.stage)
    covered = {name: set(stage_keys(rec.stage, name.partition(":")[2] or None, leaves))
               for name, rec in records.items()}  # also leaves this config leaves unset (predictor params)
    table = {}
    for key in leaves:
        todo = [rec.stage for name, rec in records.items() if key in covered[name]]
        if key == "store_dir":
            todo = ["searchspace", "images"]  # a new folder: everything is computed there anew
        elif key == "cache_dir":
            todo = ["searchspace"]  # where its cell cache and downloads are read from
        reruns: set[str] = set()
        while todo:
            stage = todo.pop()
            if stage not in reruns:
                reruns.add(stage)
                todo += readers.get(stage, ())
        table[key] = [s for s in DIGEST_STAGES if s in reruns]
    return table


def grouped_rows(table: Mapping[str, list[str]]) -> list[tuple[str, list[str]]]:
    """The table with each run of consecutive keys of one section and one rerun list as one row."""
    rows: list[tuple[list[str], list[str]]] = []
    for key, stages in table.items():
        section = key.rsplit(".", 1)[0] if "." in key else None
        last = rows[-1] if rows else None
        if last and last[1] == stages and section and last[0][0].rsplit(".", 1)[0] == section:
            last[0].append(key)
        else:
            rows.append(([key], stages))
    return [(keys[0] if len(keys) == 1 else _grouped_name(keys), stages) for keys, stages in rows]


def _grouped_name(keys: list[str]) -> str:
    """'a.{b, c}' for the keys 'a.b' and 'a.c' of one section."""
    return f"{keys[0].rsplit('.', 1)[0]}.{{{', '.join(k.rsplit('.', 1)[1] for k in keys)}}}"


def main(argv: list[str] | None = None) -> None:
    """Print the rerun table of a config (files merged in order, default config.yaml) as Markdown rows;
    a bad file or setting is one line on stderr and exit status 1."""
    parser = argparse.ArgumentParser(
        prog="python -m infonas.plan",
        description="Print, as Markdown table rows, which stages a change of each setting reruns "
                    "(the rerun table of docs/settings.md) for a config without its sweep.")
    parser.add_argument("configs", nargs="*", default=["config.yaml"], metavar="CONFIG",
                        help="config files, merged in order like --configfile (default: config.yaml)")
    args = parser.parse_args(argv)
    try:
        config = load_config_files(args.configs)
        config.pop("sweep", None)
        rows = grouped_rows(rerun_table(validate_config(config)))
    except InfonasError as error:
        sys.exit(f"infonas.plan: {error}")
    for keys, stages in rows:
        print(f"| `{keys}` | {', '.join(stages) if stages else '-'} |")


if __name__ == "__main__":
    main()
