# Evaluation (thesis 4.2-4.4): the benchmark table, REINFORCE, BO, regularized evolution and random search,
# performance prediction; the raw cell features, evaluated like an encoder's embeddings.


rule benchmark_table:
    input:
        unpack(benchmark_inputs),
    output:
        benchmark_h5("{digest}"),
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("benchmark", "benchmark_table"),
    localrule: True
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../workflow_scripts/benchmark_table.py"


rule random_search:
    input:
        benchmark=lambda w: benchmark_h5(upstream_digest("random_search", w.digest, "benchmark")),
    output:
        random_h5("{digest}"),
    params:
        settings=section("random_search", "evaluate.reinforce"),
        seed=setting("random_search", "seed"),
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("random_search", "random_search"),
    localrule: True
    threads: 1
    resources:
        mem_mb=8000,
    script:
        "../workflow_scripts/random_search.py"


rule raw_features:
    input:
        space=lambda w: searchspace_h5(upstream_digest("raw_features", w.digest, "searchspace")),
    output:
        raw_features_h5("{digest}"),
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("raw_features", "raw_features"),
    localrule: True
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../workflow_scripts/raw_features.py"


rule evolution:
    input:
        space=lambda w: searchspace_h5(upstream_digest("evolution", w.digest, "searchspace")),
        benchmark=lambda w: benchmark_h5(upstream_digest("evolution", w.digest, "benchmark")),
    output:
        evolution_h5("{digest}"),
    params:
        settings=section("evolution", "evaluate.evolution"),
        seed=setting("evolution", "seed"),
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("evolution", "evolution"),
    localrule: True
    threads: 1
    resources:
        mem_mb=8000,
    script:
        "../workflow_scripts/evolution.py"


rule reinforce:
    input:
        unpack(evaluation_inputs("reinforce")),
    output:
        search_h5("{digest}", "{model}", "{seed}", "{epoch}", "{encoder}"),
    params:
        settings=section("reinforce", "evaluate.reinforce"),
        seed=setting("reinforce", "seed"),
        compute_threads=setting("reinforce", "compute_threads"),
        encoder=lambda w: w.encoder,
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("reinforce", "{model}_seed{seed}_epoch{epoch}_{encoder}"),
    benchmark:
        bench_of("reinforce", "{model}_seed{seed}_epoch{epoch}_{encoder}")
    group:
        group_if_small("reinforce", "train")
    threads: 2
    resources:
        **cluster_resources("reinforce"),
    script:
        "../workflow_scripts/reinforce.py"


rule bo:
    input:
        unpack(evaluation_inputs("bo")),
    output:
        bo_h5("{digest}", "{model}", "{seed}", "{epoch}", "{encoder}"),
    params:
        settings=section("bo", "evaluate.bo"),
        seed=setting("bo", "seed"),
        compute_threads=setting("bo", "compute_threads"),
        encoder=lambda w: w.encoder,
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("bo", "{model}_seed{seed}_epoch{epoch}_{encoder}"),
    benchmark:
        bench_of("bo", "{model}_seed{seed}_epoch{epoch}_{encoder}")
    group:
        group_if_small("bo", "train")
    threads: 2
    resources:
        **cluster_resources("bo"),
    script:
        "../workflow_scripts/bo.py"


rule predict:
    input:
        unpack(evaluation_inputs("predict")),
    output:
        predict_csv("{digest}", "{model}", "{seed}", "{epoch}", "{encoder}"),
        pairs=predict_pairs_csv("{digest}", "{model}", "{seed}", "{epoch}", "{encoder}"),
    params:
        settings=section("predict", "evaluate.predict"),
        seed=setting("predict", "seed"),
        compute_threads=setting("predict", "compute_threads"),
        encoder=lambda w: w.encoder,
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("predict", "{model}_seed{seed}_epoch{epoch}_{encoder}"),
    benchmark:
        bench_of("predict", "{model}_seed{seed}_epoch{epoch}_{encoder}")
    # no group: a grouped job that reads the sample_networks checkpoint's output fails Snakemake 9.27's
    # group bookkeeping once the checkpoint has run (KeyError: predict), so predict is a job of its own
    threads: 2
    resources:
        **cluster_resources("predict"),
    script:
        "../workflow_scripts/predict.py"


# the raw cell features through the same searches and predictors as an encoder's embeddings
use rule reinforce as reinforce_raw with:
    input:
        unpack(raw_evaluation_inputs("reinforce")),
    output:
        raw_search_h5("{digest}"),
    params:
        settings=section("reinforce", "evaluate.reinforce"),
        seed=setting("reinforce", "seed"),
        compute_threads=setting("reinforce", "compute_threads"),
        encoder=RAW,
    log:
        log_of("reinforce", "raw_cells"),
    benchmark:
        bench_of("reinforce", "raw_cells")
    group:
        None


use rule bo as bo_raw with:
    input:
        unpack(raw_evaluation_inputs("bo")),
    output:
        raw_bo_h5("{digest}"),
    params:
        settings=section("bo", "evaluate.bo"),
        seed=setting("bo", "seed"),
        compute_threads=setting("bo", "compute_threads"),
        encoder=RAW,
    log:
        log_of("bo", "raw_cells"),
    benchmark:
        bench_of("bo", "raw_cells")
    group:
        None


use rule predict as predict_raw with:
    input:
        unpack(raw_evaluation_inputs("predict")),
    output:
        raw_predict_csv("{digest}"),
        pairs=raw_predict_pairs_csv("{digest}"),
    params:
        settings=section("predict", "evaluate.predict"),
        seed=setting("predict", "seed"),
        compute_threads=setting("predict", "compute_threads"),
        encoder=RAW,
    log:
        log_of("predict", "raw_cells"),
    benchmark:
        bench_of("predict", "raw_cells")
