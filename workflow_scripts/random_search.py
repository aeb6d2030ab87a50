"""Rule random_search: the random-search baseline under the same budget and number of runs."""
from infonas.evaluation.benchmark import load_benchmark
from infonas.evaluation.random_search import random_search
from infonas.evaluation.regret import save_search
from infonas.runtime import run_rule


def main(smk):
    table = load_benchmark(smk.input.benchmark)
    s = smk.params.settings
    result = random_search(table.val_acc, table.test_acc, table.train_time, s["runs"], s["budget_s"], smk.params.seed)
    save_search(smk.output[0], result)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
