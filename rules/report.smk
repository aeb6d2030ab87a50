# Figures and tables of the thesis and paper, each wrapped for `snakemake --report`.

rule training_report:
    wildcard_constraints:
        model="infonas|infonas-opemb",
    input:
        unpack(training_metrics),
    output:
        labeled=report(f"{RUN}/figures/{{model}}/labeled_losses.png", caption="../report/labeled_losses.rst", category="Joint training", labels={"model": "{model}", "figure": "labeled losses"}),
        vae=report(f"{RUN}/figures/{{model}}/vae_losses.png", caption="../report/vae_losses.rst", category="Joint training", labels={"model": "{model}", "figure": "VAE losses"}),
        recon=report(f"{RUN}/figures/{{model}}/reconstruction.png", caption="../report/reconstruction.rst", category="Joint training", labels={"model": "{model}", "figure": "reconstruction accuracy"}),
        valid=report(f"{RUN}/figures/{{model}}/validity_uniqueness.png", caption="../report/validity.rst", category="Joint training", labels={"model": "{model}", "figure": "validity and uniqueness"}),
        table=report(f"{RUN}/figures/{{model}}/final_epoch.csv", caption="../report/final_epoch.rst", category="Joint training", labels={"model": "{model}", "figure": "final-epoch table"}),
        scaling=report(f"{RUN}/figures/{{model}}/scaling_results.csv", caption="../report/scaling_results.rst", category="Joint training", labels={"model": "{model}", "figure": "scaling variant"}),
    params:
        variant=lookup(dpath="io/scaling", within=config),
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/report/training_{{model}}.log",
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../workflow_scripts/training_report.py"


rule arch2vec_report:
    wildcard_constraints:
        model="arch2vec",
    input:
        unpack(training_metrics),
    output:
        vae=report(f"{RUN}/figures/{{model}}/vae_losses.png", caption="../report/vae_losses.rst", category="Joint training", labels={"model": "{model}", "figure": "VAE losses"}),
        recon=report(f"{RUN}/figures/{{model}}/reconstruction.png", caption="../report/reconstruction.rst", category="Joint training", labels={"model": "{model}", "figure": "reconstruction accuracy"}),
        valid=report(f"{RUN}/figures/{{model}}/validity_uniqueness.png", caption="../report/validity.rst", category="Joint training", labels={"model": "{model}", "figure": "validity and uniqueness"}),
        table=report(f"{RUN}/figures/{{model}}/final_epoch.csv", caption="../report/final_epoch.rst", category="Joint training", labels={"model": "{model}", "figure": "final-epoch table"}),
    params:
        variant=lookup(dpath="io/scaling", within=config),
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/report/training_{{model}}.log",
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../workflow_scripts/training_report.py"


rule search_report:
    input:
        unpack(search_results),
        benchmark=rules.benchmark_table.output[0],
    output:
        figure=report(f"{RUN}/figures/search/{{model}}_seed{{seed}}_epoch{{epoch}}.png", caption="../report/search.rst", category="Search", labels={"model": "{model}", "seed": "{seed}", "epoch": "{epoch}", "figure": "regret"}),
        table=report(f"{RUN}/figures/search/{{model}}_seed{{seed}}_epoch{{epoch}}_table.csv", caption="../report/search_table.rst", category="Search", labels={"model": "{model}", "seed": "{seed}", "epoch": "{epoch}", "figure": "regret table"}),
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/report/search_{{model}}_seed{{seed}}_epoch{{epoch}}.log",
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../workflow_scripts/search_report.py"


rule prediction_report:
    input:
        prediction_results,
    output:
        figure=report(f"{RUN}/figures/predict/{{model}}_epoch{{epoch}}.png", caption="../report/predict.rst", category="Prediction", labels={"model": "{model}", "epoch": "{epoch}", "figure": "box plots"}),
        table=report(f"{RUN}/figures/predict/{{model}}_epoch{{epoch}}_table.csv", caption="../report/predict_table.rst", category="Prediction", labels={"model": "{model}", "epoch": "{epoch}", "figure": "table"}),
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/report/predict_{{model}}_epoch{{epoch}}.log",
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../workflow_scripts/prediction_report.py"


rule scaling_variants_table:
    output:
        report(f"{RUN}/figures/scaling_variants.csv", caption="../report/scaling_variants.rst", category="Joint training", labels={"model": "all", "figure": "scaling variants"}),
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/report/scaling_variants.log",
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../workflow_scripts/scaling_variants_table.py"
