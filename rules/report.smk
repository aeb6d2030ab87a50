# Figures and tables of the thesis and paper, per variant, each wrapped for `snakemake --report`.
# Captions quote the variant's own settings (params.cfg).


rule variant_config:
    output:
        f"{RUN}/variants/{{variant}}/config.yaml",
    params:
        cfg=variant_cfg,
        stages=lambda w: {key: rec.to_dict() for key, rec in PLAN.by_variant[w.variant].items()},
        store=STORE,
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/variant_config_{{variant}}.log",
    localrule: True
    script:
        "../workflow_scripts/variant_config.py"


rule training_report:
    wildcard_constraints:
        model="infonas|infonas-opemb",
    input:
        unpack(training_metrics),
    output:
        labeled=report_item("{model}/labeled_losses.png", "labeled_losses", "Joint training", "labeled losses"),
        vae=report_item("{model}/vae_losses.png", "vae_losses", "Joint training", "VAE losses"),
        recon=report_item("{model}/reconstruction.png", "reconstruction", "Joint training", "reconstruction accuracy"),
        valid=report_item("{model}/validity_uniqueness.png", "validity", "Joint training", "validity and uniqueness"),
        table=report_item("{model}/final_epoch.csv", "final_epoch", "Joint training", "final-epoch table"),
        scaling=report_item("{model}/scaling_results.csv", "scaling_results", "Joint training", "scaling variant"),
    params:
        cfg=variant_cfg,
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/report/training_{{variant}}_{{model}}.log",
    localrule: True
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
        vae=report_item("{model}/vae_losses.png", "vae_losses", "Joint training", "VAE losses"),
        recon=report_item("{model}/reconstruction.png", "reconstruction", "Joint training", "reconstruction accuracy"),
        valid=report_item("{model}/validity_uniqueness.png", "validity", "Joint training", "validity and uniqueness"),
        table=report_item("{model}/final_epoch.csv", "final_epoch", "Joint training", "final-epoch table"),
    params:
        cfg=variant_cfg,
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/report/training_{{variant}}_{{model}}.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../workflow_scripts/training_report.py"


rule search_report:
    input:
        unpack(search_results),
    output:
        figure=report_item("search/{model}_seed{seed}_epoch{epoch}.png", "search", "Search", "regret",
                           labels=("model", "seed", "epoch")),
        table=report_item("search/{model}_seed{seed}_epoch{epoch}_table.csv", "search_table", "Search",
                          "regret table", labels=("model", "seed", "epoch")),
    params:
        cfg=variant_cfg,
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/report/search_{{variant}}_{{model}}_seed{{seed}}_epoch{{epoch}}.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../workflow_scripts/search_report.py"


rule prediction_report:
    input:
        csv=prediction_results,
        pairs=prediction_pairs_results,
    output:
        figure=report_item("predict/{model}_epoch{epoch}.png", "predict", "Prediction", "box plots",
                           labels=("model", "epoch")),
        table=report_item("predict/{model}_epoch{epoch}_table.csv", "predict_table", "Prediction", "table",
                          labels=("model", "epoch")),
        scatter=report_item("predict/{model}_epoch{epoch}_scatter.png", "prediction_scatter", "Prediction",
                            "predicted vs true", labels=("model", "epoch")),
    params:
        cfg=variant_cfg,
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/report/predict_{{variant}}_{{model}}_epoch{{epoch}}.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../workflow_scripts/prediction_report.py"


rule output_heatmaps:
    wildcard_constraints:
        model="infonas|infonas-opemb",
        split="|".join(HEATMAP_SPLITS),
    input:
        unpack(heatmap_inputs),
    output:
        networks=report_item("{model}/heatmaps_{split}_networks.png", "heatmaps", "Outputs", "networks x images",
                             labels=("model", "split")),
        one_image=report_item("{model}/heatmaps_{split}_one_image.png", "heatmaps", "Outputs", "networks on one image",
                              labels=("model", "split")),
    params:
        epoch=lambda w: model_epochs(w.model, PLAN.record("train", PLAN.digest(w.variant, "train", w.model)).section("train"))[-1],
        seed=lambda w: PLAN.variants[w.variant]["seed"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/report/heatmaps_{{variant}}_{{model}}_{{split}}.log",
    group:
        group_if_small("output_heatmaps", "train")
    threads: 2
    resources:
        **cluster_resources("output_heatmaps"),
    script:
        "../workflow_scripts/output_heatmaps.py"


rule latent_space:
    wildcard_constraints:
        projection="pca|tsne",
    input:
        embeddings=lambda w: embedding_h5(PLAN.digest(w.variant, "train", w.model), w.model,
                                          PLAN.variants[w.variant]["train"]["seeds"][0], w.epoch),
        benchmark=lambda w: benchmark_h5(PLAN.digest(w.variant, "benchmark")),
    output:
        report_item("{model}/latent_space_{projection}_epoch{epoch}.png", "latent_space", "Latent space",
                    "latent space", labels=("model", "projection", "epoch")),
    params:
        seed=lambda w: PLAN.variants[w.variant]["seed"],
        points=lambda w: PLAN.variants[w.variant]["report"]["latent_points"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/report/latent_{{variant}}_{{model}}_{{projection}}_epoch{{epoch}}.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../workflow_scripts/latent_space.py"


rule latent_distances:
    input:
        unpack(latent_distance_inputs),
    output:
        figure=report_item("latent_distances.png", "latent_distances", "Latent space", "edit distance", labels=()),
        table=report_item("latent_distances_table.csv", "latent_distances", "Latent space", "edit distance table",
                          labels=()),
    params:
        entries=lambda w: latent_distance_entries(w.variant),
        seed=lambda w: PLAN.variants[w.variant]["seed"],
        settings=lambda w: PLAN.variants[w.variant]["report"]["edit_distance"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/report/latent_distances_{{variant}}.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../workflow_scripts/latent_distances.py"


rule scaling_variants_table:
    output:
        report(f"{RUN}/figures/scaling_variants.csv", caption="../report/scaling_variants.rst", category="Joint training", labels={"model": "all", "figure": "scaling variants"}),
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/report/scaling_variants.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=1000,
    script:
        "../workflow_scripts/scaling_variants_table.py"
