"""Rule evolution: regularized evolution on the search space's cells, once per search space."""
from infonas.evaluation.benchmark import load_benchmark
from infonas.evaluation.evolution import regularized_evolution
from infonas.evaluation.regret import save_search
from infonas.runtime import run_rule
from infonas.searchspace.store import load_searchspace


def main(smk):
    space = load_searchspace(smk.input.space)
    table = load_benchmark(smk.input.benchmark)
    s = smk.params.settings
    result = regularized_evolution(space["adjacency"], space["ops"], table.val_acc, table.test_acc, table.train_time,
                                   s["runs"], s["budget_s"], smk.params.seed, population=s["population"],
                                   sample_size=s["sample_size"], mutation_rate=s["mutation_rate"])
    save_search(smk.output[0], result)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
