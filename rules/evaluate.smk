# Evaluation (thesis 4.2-4.4): latent features, REINFORCE and random search, performance prediction.

EMB = f"{RUN}/embeddings/{{model}}/seed{{seed}}/epoch{{epoch}}"


rule embed:
    input:
        weights=f"{RUN}/models/{{model}}/seed{{seed}}/epoch{{epoch}}.pt",
        space=rules.searchspace.output[0],
    output:
        f"{EMB}.h5",
    params:
        device=config["device"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/embed/{{model}}_seed{{seed}}_epoch{{epoch}}.log",
    threads: 2
    resources:
        mem_mb=8000,
        gpu_percent=25,
    script:
        "../workflow_scripts/embed.py"


rule benchmark_table:
    input:
        space=rules.searchspace.output[0],
        pretrained=pretrained_metrics,
    output:
        f"{RUN}/benchmark.h5",
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/benchmark_table.log",
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../workflow_scripts/benchmark_table.py"


rule reinforce:
    input:
        embeddings=rules.embed.output[0],
        benchmark=rules.benchmark_table.output[0],
    output:
        f"{RUN}/search/{{model}}/seed{{seed}}/epoch{{epoch}}/{{encoder}}.h5",
    params:
        settings=lookup(dpath="evaluate/reinforce", within=config),
        seed=config["seed"],
        device=config["device"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/reinforce/{{model}}_seed{{seed}}_epoch{{epoch}}_{{encoder}}.log",
    benchmark:
        f"{BENCH}/reinforce/{{model}}_seed{{seed}}_epoch{{epoch}}_{{encoder}}.tsv"
    threads: 2
    resources:
        mem_mb=16000,
        gpu_percent=50,
    script:
        "../workflow_scripts/reinforce.py"


rule random_search:
    input:
        benchmark=rules.benchmark_table.output[0],
    output:
        f"{RUN}/search/random.h5",
    params:
        settings=lookup(dpath="evaluate/reinforce", within=config),
        seed=config["seed"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/random_search.log",
    threads: 1
    resources:
        mem_mb=8000,
    script:
        "../workflow_scripts/random_search.py"


rule predict:
    input:
        embeddings=rules.embed.output[0],
        benchmark=rules.benchmark_table.output[0],
        networks=labeled_networks,
    output:
        f"{RUN}/predict/{{model}}/seed{{seed}}/epoch{{epoch}}/{{encoder}}.csv",
    params:
        settings=lookup(dpath="evaluate/predict", within=config),
        seed=config["seed"],
        device=config["device"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/predict/{{model}}_seed{{seed}}_epoch{{epoch}}_{{encoder}}.log",
    benchmark:
        f"{BENCH}/predict/{{model}}_seed{{seed}}_epoch{{epoch}}_{{encoder}}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
    script:
        "../workflow_scripts/predict.py"
