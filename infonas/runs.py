"""Where a finished run's stage outputs are, for scripts outside the workflow (benchmarks, notebooks).

Rule variant_config writes `results/<run>/variants/<variant>/config.yaml`: the variant's full config
and, per stage, its digest and folder in the store (`infonas.plan.write_variant_config`). Reading
that file, instead of rebuilding the plan from config files, finds exactly the files the run made,
whatever config files, sweep and store folder it used. Its folders are relative to the workflow's
directory (`root` here) unless the store is absolute; the file names inside a stage folder are those
of rules/common.smk. A missing file is one InfonasError naming it and the command that makes it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import yaml

from infonas.errors import InfonasError, one_line
from infonas.models.variants import uses_labels

#: the output file of each single-file stage folder (rules/common.smk)
STAGE_FILES = {
    "searchspace": "searchspace.h5",
    "images": "images.h5",
    "networks": "networks.csv",
    "fit_scaler": "scaler.h5",
    "io_dataset": "dataset.h5",
    "benchmark": "benchmark.h5",
    "random_search": "random.h5",
    "raw_features": "embeddings.h5",
    "evolution": "evolution.h5",
}


def variants_dir(run: str, root: str | Path = ".") -> Path:
    return Path(root) / "results" / run / "variants"


def run_variants(run: str, root: str | Path = ".") -> list[str]:
    """The variants of `run` whose config.yaml the workflow has written, sorted by name."""
    folder = variants_dir(run, root)
    return sorted(p.parent.name for p in folder.glob("*/config.yaml")) if folder.is_dir() else []


def embedded_epochs(config: dict, model: str) -> list[int]:
    """Epochs whose features a variant embeds and evaluates: evaluate.embed_epochs for the models
    trained with labels, plain arch2vec's last epoch (train.arch2vec_epochs) otherwise."""
    if uses_labels(model):
        return list(config["evaluate"]["embed_epochs"])
    return [config["train"]["arch2vec_epochs"]]


@dataclass(frozen=True)
class RunOutputs:
    """One variant of a finished run: its config and the store folder of each of its stages."""

    run: str
    variant: str
    root: Path
    config: dict
    stages: dict  # stage key ('train:<model>' for model stages) -> digest, folder, settings, upstream

    def has(self, stage: str, model: str | None = None) -> bool:
        return _key(stage, model) in self.stages

    def folder(self, stage: str, model: str | None = None) -> Path:
        """The stage's folder in the store (which need not exist yet)."""
        return self.root / self._stored_folder(stage, model)

    def output(self, stage: str, name: str | None = None, model: str | None = None) -> Path:
        """A file in the stage's folder (default: the stage's one output file), checked to exist."""
        target = f"{self._stored_folder(stage, model)}/{name or STAGE_FILES[stage]}"
        path = self.root / target
        if not path.is_file():
            where = "" if self.root == Path(".") else f" in {self.root}"
            raise InfonasError(
                f"{path}: missing ({_key(stage, model)} output of run '{self.run}', variant '{self.variant}'); "
                f"make it with `snakemake {target} --cores all --config run={self.run}`{where} "
                "and the run's config files")
        return path

    def searchspace(self) -> Path:
        return self.output("searchspace")

    def images(self) -> Path:
        return self.output("images")

    def networks(self) -> Path:
        return self.output("networks")

    def io_dataset(self) -> Path:
        return self.output("io_dataset")

    def benchmark(self) -> Path:
        return self.output("benchmark")

    def raw_features(self) -> Path:
        """The raw cell features of the variant's search space, an embeddings file whose encoder is `raw`."""
        return self.output("raw_features")

    def embeddings(self, model: str | None = None, seed: int | None = None, epoch: int | None = None) -> Path:
        """An embeddings file of the train stage; by default the first model and seed of the variant
        and the last epoch it evaluates."""
        model = model or self.config["train"]["models"][0]
        seed = self.config["train"]["seeds"][0] if seed is None else seed
        epoch = embedded_epochs(self.config, model)[-1] if epoch is None else epoch
        return self.output("train", f"{model}/seed{seed}/embeddings/epoch{epoch}.h5", model)

    def _stored_folder(self, stage: str, model: str | None) -> str:
        key = _key(stage, model)
        if key not in self.stages:
            raise InfonasError(f"run '{self.run}', variant '{self.variant}' has no {key} stage "
                               f"(it has {', '.join(self.stages)})")
        return str(self.stages[key]["folder"])


def _key(stage: str, model: str | None) -> str:
    return f"{stage}:{model}" if model else stage


def open_run(run: str, variant: str | None = None, root: str | Path = ".") -> RunOutputs:
    """The outputs of one variant of `run` (the only one when `variant` is None) under `root`."""
    root = Path(root)
    names = run_variants(run, root)
    write = (f"write them with `snakemake --until variant_config --cores 1 --config run={run}` "
             "and the run's config files")
    if not names:
        raise InfonasError(f"{variants_dir(run, root)}: no variant config of run '{run}'; {write}")
    if variant is None:
        if len(names) > 1:
            raise InfonasError(f"run '{run}' has variants {', '.join(names)}: choose one (--variant)")
        variant = names[0]
    path = variants_dir(run, root) / variant / "config.yaml"
    if variant not in names:
        raise InfonasError(f"{path}: missing (run '{run}' has variants {', '.join(names)}); {write}")
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise InfonasError(f"{path}: unreadable variant config ({one_line(error)})") from None
    if not _is_variant_config(content):
        raise InfonasError(f"{path}: not a variant config (needs 'config' and 'stages' with a folder each); {write}")
    return RunOutputs(run, variant, root, content["config"], content["stages"])


def _is_variant_config(content) -> bool:
    """The mapping write_variant_config writes: the config and, per stage, a record with its folder."""
    if not isinstance(content, dict) or not isinstance(content.get("config"), dict):
        return False
    stages = content.get("stages")
    return isinstance(stages, dict) and all(isinstance(rec, dict) and "folder" in rec for rec in stages.values())


# ------------------------------------------------------------------------------ command-line scripts
def add_run_arguments(parser: argparse.ArgumentParser, required: bool = False, embeddings: bool = False) -> None:
    """--run, --variant, --root (and, with `embeddings`, --model, --train-seed, --epoch): a finished run."""
    group = parser.add_argument_group("inputs from a finished workflow run")
    group.add_argument("--run", required=required, help="read the stage outputs of results/<run>/")
    group.add_argument("--variant", help="the run's variant (needed when it swept several)")
    group.add_argument("--root", default=".", help="the workflow's directory, holding results/ (default: .)")
    if embeddings:
        group.add_argument("--model", help="trained model whose embeddings are read (default: the variant's first)")
        group.add_argument("--train-seed", type=int, help="its training seed (default: the variant's first)")
        group.add_argument("--epoch", type=int, help="its embedded epoch (default: the last one evaluated)")


def run_from_arguments(args: argparse.Namespace) -> RunOutputs | None:
    """The run named by --run/--variant/--root, or None without --run."""
    return open_run(args.run, args.variant, args.root) if args.run else None


def embedding_inputs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[Path, Path]:
    """(embeddings, benchmark table): from --embeddings and --benchmark, or from the files of --run."""
    outputs = run_from_arguments(args)
    if outputs is not None:
        embeddings = Path(args.embeddings) if args.embeddings else outputs.embeddings(args.model, args.train_seed,
                                                                                        args.epoch)
        return embeddings, Path(args.benchmark) if args.benchmark else outputs.benchmark()
    if not (args.embeddings and args.benchmark):
        parser.error("give --embeddings and --benchmark, or --run (and --variant) of a finished run")
    return Path(args.embeddings), Path(args.benchmark)
