"""Rule compare_training: tables and curves of a comparison's variants (thesis Tables 4.2-4.12)."""
from pathlib import Path

from infonas.reporting.stages import comparison_report
from infonas.runtime import run_rule


def main(smk):
    paths = {}
    for name, path in smk.input.items():
        variant, seed = name.rsplit("/", 1)
        paths.setdefault(variant, {})[int(seed)] = path
    comparison_report(paths, smk.params.settings, Path(smk.output.table).parent, kind=smk.params.kind,
                      epoch=smk.params.epoch, splits=list(smk.params.splits))


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
