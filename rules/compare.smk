# Comparisons across the variants of a sweep (thesis chapter 4, paper Figs 7-10), and the per-variant
# pictures of what info-NAS learned (output heatmaps, latent spaces). Aggregation only: every input
# is a variant's own result file.

COMPARE = f"{RUN}/compare/{{comparison}}"
#: labeled splits that get their own comparison table and curve (thesis Tables 4.2-4.4 and others)
COMPARED_SPLITS = ("train", "valid_unseen_networks", "valid_unseen_images")


def labeled_model(variant):
    """The info-NAS model of a variant whose metrics a comparison reads (the first labeled one)."""
    models = [m for m in PLAN.variants[variant]["train"]["models"] if uses_labels(m)]
    return models[0] if models else None


def compared_variants(comparison):
    """Variants of a comparison that train an info-NAS model (in the comparison's order)."""
    return [v for v in PLAN.comparisons[comparison].varied if labeled_model(v)]


def comparison_metrics(wildcards):
    """metrics.csv of every seed of every variant of the comparison, named variant/seed."""
    files = {}
    for v in compared_variants(wildcards.comparison):
        model = labeled_model(v)
        d = PLAN.digest(v, "train", model)
        for seed in PLAN.variants[v]["train"]["seeds"]:
            files[f"{v}/{seed}"] = f"{train_dir(d, model, seed)}/metrics.csv"
    return files


rule compare_training:
    input:
        unpack(comparison_metrics),
    output:
        table=report(f"{COMPARE}/comparison.csv", caption="../report/comparison.rst", category="Comparisons",
                     labels={"comparison": "{comparison}", "figure": "all metrics"}),
        splits=[report(f"{COMPARE}/comparison_{split}.csv", caption="../report/comparison.rst",
                       category="Comparisons", labels={"comparison": "{comparison}", "figure": f"table {split}"})
                for split in COMPARED_SPLITS],
        curves=[report(f"{COMPARE}/curves_{split}.png", caption="../report/comparison_curves.rst",
                       category="Comparisons", labels={"comparison": "{comparison}", "figure": f"curves {split}"})
                for split in COMPARED_SPLITS],
    params:
        settings=lambda w: {v: PLAN.comparisons[w.comparison].varied[v] for v in compared_variants(w.comparison)},
        kind=lambda w: PLAN.comparisons[w.comparison].columns,
        epoch=lambda w: PLAN.comparisons[w.comparison].epoch,
        splits=COMPARED_SPLITS,
    log:
        f"{RUN}/logs/compare/{{comparison}}_training.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../workflow_scripts/compare_training.py"


def last_epoch(variant, model):
    return embed_epochs(variant, model)[-1]


def search_curves(variants):
    """(label, encoder, [search files over seeds]) per curve at each model's last evaluated epoch:
    info-NAS and its side-by-side arch2vec per variant, the plain arch2vec once, and random search."""
    curves, seen = [], set()
    for v in variants:
        cfg = PLAN.variants[v]
        for model in cfg["train"]["models"]:
            d, epoch = PLAN.digest(v, "reinforce", model), last_epoch(v, model)
            label = v if uses_labels(model) else f"{model} ({cfg['train']['arch2vec_epochs']} epochs)"
            for encoder in encoders_of(model):
                files = [search_h5(d, model, s, epoch, encoder) for s in cfg["train"]["seeds"]]
                if (label, encoder, tuple(files)) not in seen:
                    seen.add((label, encoder, tuple(files)))
                    curves.append((label, encoder, files))
    curves.append(("", "random", [random_h5(PLAN.digest(variants[0], "random_search"))]))
    return curves


def prediction_entries(variants):
    """(label, [predict CSVs of every encoder and seed]) per variant, the plain arch2vec once."""
    entries, seen = [], set()
    for v in variants:
        cfg = PLAN.variants[v]
        for model in cfg["train"]["models"]:
            d, epoch = PLAN.digest(v, "predict", model), last_epoch(v, model)
            label = v if uses_labels(model) else f"{model} ({cfg['train']['arch2vec_epochs']} epochs)"
            files = tuple(predict_csv(d, model, s, epoch, e) for s in cfg["train"]["seeds"] for e in encoders_of(model))
            if files not in seen:
                seen.add(files)
                entries.append((label, list(files)))
    return entries


def evaluated_variants(comparison):
    return [v for v in PLAN.comparisons[comparison].varied if PLAN.evaluated(v)]


rule compare_search:
    input:
        searches=lambda w: sorted({f for _, _, files in search_curves(evaluated_variants(w.comparison)) for f in files}),
        benchmark=lambda w: benchmark_h5(PLAN.digest(evaluated_variants(w.comparison)[0], "benchmark")),
    output:
        figure=report(f"{COMPARE}/search.png", caption="../report/comparison_search.rst", category="Comparisons",
                      labels={"comparison": "{comparison}", "figure": "search"}),
    params:
        curves=lambda w: search_curves(evaluated_variants(w.comparison)),
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
        lambda w: sorted({f for _, files in prediction_entries(evaluated_variants(w.comparison)) for f in files}),
    output:
        figure=report(f"{COMPARE}/prediction_pearson_r.png", caption="../report/comparison_prediction.rst",
                      category="Comparisons", labels={"comparison": "{comparison}", "figure": "prediction"}),
    params:
        entries=lambda w: prediction_entries(evaluated_variants(w.comparison)),
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
        searches=lambda w: sorted({f for _, _, files in search_curves([w.variant]) for f in files}),
        benchmark=lambda w: benchmark_h5(PLAN.digest(w.variant, "benchmark")),
    output:
        figure=report_item("search_overview.png", "comparison_search", "Search", "all encoders", labels=()),
    params:
        curves=lambda w: search_curves([w.variant]),
    log:
        f"{RUN}/logs/report/search_overview_{{variant}}.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../workflow_scripts/compare_search.py"


def heatmap_inputs(wildcards):
    """The last saved epoch of the variant's first info-NAS seed, its IO dataset, images and scaler."""
    v, model = wildcards.variant, wildcards.model
    d, cfg = PLAN.digest(v, "train", model), PLAN.variants[v]
    dataset = up("train", d, "io_dataset")
    return {"weights": f"{train_dir(d, model, cfg['train']['seeds'][0])}/weights",
            "dataset": dataset_h5(dataset), "images": images_h5(up("train", d, "images")),
            "scaler": scaler_h5(up("train", d, "fit_scaler"))}


rule output_heatmaps:
    wildcard_constraints:
        model="infonas|infonas-opemb",
    input:
        unpack(heatmap_inputs),
    output:
        networks=report_item("{model}/heatmaps_networks.png", "heatmaps", "Outputs", "networks x images"),
        one_image=report_item("{model}/heatmaps_one_image.png", "heatmaps", "Outputs", "one image"),
    params:
        epoch=lambda w: model_epochs(w.model, PLAN.record("train", PLAN.digest(w.variant, "train", w.model)).section("train"))[-1],
        seed=lambda w: PLAN.variants[w.variant]["seed"],
    log:
        f"{RUN}/logs/report/heatmaps_{{variant}}_{{model}}.log",
    group:
        group_if_small("output_heatmaps", "train")
    threads: 2
    resources:
        **cluster_resources("output_heatmaps"),
    script:
        "../workflow_scripts/output_heatmaps.py"


rule latent_space:
    input:
        embeddings=lambda w: embedding_h5(PLAN.digest(w.variant, "train", w.model), w.model,
                                          PLAN.variants[w.variant]["train"]["seeds"][0], w.epoch),
        benchmark=lambda w: benchmark_h5(PLAN.digest(w.variant, "benchmark")),
    output:
        report_item("{model}/latent_space_epoch{epoch}.png", "latent_space", "Latent space", "projection",
                    labels=("model", "epoch")),
    params:
        seed=lambda w: PLAN.variants[w.variant]["seed"],
    log:
        f"{RUN}/logs/report/latent_{{variant}}_{{model}}_epoch{{epoch}}.log",
    localrule: True
    threads: 1
    resources:
        mem_mb=4000,
    script:
        "../workflow_scripts/latent_space.py"


def comparison_figures():
    """The comparison outputs of every comparison (search and prediction where its variants are searched)."""
    out = []
    for name, comparison in PLAN.comparisons.items():
        base = f"{RUN}/compare/{name}"
        if compared_variants(name):
            out.append(f"{base}/comparison.csv")
        if evaluated_variants(name):
            out += [f"{base}/search.png", f"{base}/prediction_pearson_r.png"]
    return out
