# Comparisons across the variants of a sweep (thesis chapter 4, paper Figs 7-10), and the search
# curves of one variant's encoders together. Aggregation only: every input is a variant's own result file.


rule compare_training:
    input:
        unpack(comparison_metrics),
    output:
        # for machines: every compared metric pooled over seeds (wide), and each table's numbers
        table=f"{COMPARE}/comparison.csv",
        splits=[f"{COMPARE}/comparison_{split}.csv" for split in COMPARED_SPLITS],
        reconstruction=f"{COMPARE}/comparison_reconstruction.csv",
        # for people: one readable table per split (thesis Tables 4.2-4.4, 4.6-4.8, 4.10-4.12) and 4.5/4.9
        split_pages=[report(f"{COMPARE}/comparison_{split}.html", caption="../report/comparison.rst",
                            category="Comparisons", labels={"comparison": "{comparison}", "figure": f"table {split}"})
                     for split in COMPARED_SPLITS],
        reconstruction_page=report(f"{COMPARE}/comparison_reconstruction.html",
                                   caption="../report/comparison_reconstruction.rst", category="Comparisons",
                                   labels={"comparison": "{comparison}", "figure": "table reconstruction"}),
        curves=[report(f"{COMPARE}/curves_{split}.png", caption="../report/comparison_curves.rst",
                       category="Comparisons", labels={"comparison": "{comparison}", "figure": f"curves {split}"})
                for split in COMPARED_SPLITS],
    params:
        settings=lambda w: {v: PLAN.comparisons[w.comparison].varied[v] for v in compared_variants(w.comparison)},
        kind=lambda w: PLAN.comparisons[w.comparison].columns,
        epoch=lambda w: PLAN.comparisons[w.comparison].epoch,
        splits=COMPARED_SPLITS,
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/compare/{{comparison}}_training.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../workflow_scripts/compare_training.py"


rule compare_search:
    input:
        searches=lambda w: curve_files(search_curves(evaluated_variants(w.comparison))),
        benchmark=lambda w: benchmark_h5(PLAN.digest(evaluated_variants(w.comparison)[0], "benchmark")),
    output:
        figure=report(f"{COMPARE}/search.png", caption="../report/comparison_search.rst", category="Comparisons",
                      labels={"comparison": "{comparison}", "figure": "search"}),
        table=f"{COMPARE}/search_table.csv",
    params:
        curves=lambda w: search_curves(evaluated_variants(w.comparison)),
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/compare/{{comparison}}_search.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../workflow_scripts/compare_search.py"


rule compare_prediction:
    input:
        lambda w: curve_files(feature_sets(evaluated_variants(w.comparison), "predict")),
    output:
        figure=report(f"{COMPARE}/prediction_pearson_r.png", caption="../report/comparison_prediction.rst",
                      category="Comparisons", labels={"comparison": "{comparison}", "figure": "prediction"}),
        rmse=f"{COMPARE}/prediction_rmse.png",
        table=report(f"{COMPARE}/prediction_table.csv", caption="../report/prediction_table.rst",
                     category="Comparisons", labels={"comparison": "{comparison}", "figure": "prediction table"}),
    params:
        entries=lambda w: feature_sets(evaluated_variants(w.comparison), "predict"),
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/compare/{{comparison}}_prediction.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../workflow_scripts/compare_prediction.py"


# ------------------------------------------------------------------------------ per variant
rule variant_search:
    input:
        searches=lambda w: curve_files(search_curves([w.variant], every_epoch=True)),
        benchmark=lambda w: benchmark_h5(PLAN.digest(w.variant, "benchmark")),
    output:
        validation=report_item("search_validation.png", "search_validation", "Search",
                               "validation regret, all features", labels=()),
        test=report_item("search_test.png", "search_test", "Search", "test regret, all features", labels=()),
        table=report_item("search_table.csv", "search_features_table", "Search", "regret table, all features",
                          labels=()),
        queries=report_item("search_queries.csv", "search_queries", "Search", "accuracy after queries, all features",
                            labels=()),
    params:
        curves=lambda w: search_curves([w.variant], every_epoch=True),
        cfg=variant_cfg,
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/report/search_features_{{variant}}.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../workflow_scripts/variant_search.py"


rule variant_prediction:
    input:
        lambda w: curve_files(feature_sets([w.variant], "predict", every_epoch=True)),
    output:
        rmse=report_item("prediction_rmse.png", "prediction_boxes", "Prediction", "RMSE, all features", labels=()),
        pearson_r=report_item("prediction_pearson_r.png", "prediction_boxes", "Prediction",
                              "Pearson r, all features", labels=()),
        table=report_item("prediction_table.csv", "prediction_table", "Prediction", "table, all features",
                          labels=()),
    params:
        entries=lambda w: feature_sets([w.variant], "predict", every_epoch=True),
        cfg=variant_cfg,
    conda:
        "../envs/infonas.yaml"
    log:
        f"{RUN}/logs/report/prediction_features_{{variant}}.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../workflow_scripts/variant_prediction.py"

