# Input functions and helpers of the rules, by the rule file that uses them. No rules here
# (Snakemake's linter wants rules and functions apart); paths and the plan are in common.smk.


# ------------------------------------------------------------------------------ searchspace.smk
def searchspace_inputs(wildcards):
    """The enumerated cells when the space is enumerated, and the local files named by path."""
    space = PLAN.record("searchspace", wildcards.digest).section("searchspace")
    inputs = {"cells": f"{CACHE}/nb101_cells.h5"} if space["source"] == "enumerate" else {}
    if space["source"] == "tfrecord" and "://" not in space["tfrecord"]:
        inputs["tfrecord"] = space["tfrecord"]
    if metrics_file(space):
        inputs["metrics_csv"] = metrics_file(space)
    return inputs


# ------------------------------------------------------------------------------ pretrain.smk
def scaler_inputs(scaler_digest):
    """networks.csv and the shards of its networks that a scaler is fitted on."""
    networks = upstream_digest("fit_scaler", scaler_digest, "networks")
    extract = upstream_digest("fit_scaler", scaler_digest, "extract_io")
    return {"networks": networks_csv(networks), "shards": [shard_h5(extract, h) for h in network_hashes(networks)]}


def dataset_inputs(wildcards):
    scaler = upstream_digest("io_dataset", wildcards.digest, "fit_scaler")
    return dict(
        scaler_inputs(scaler),
        scaler=scaler_h5(scaler),
        space=searchspace_h5(upstream_digest("io_dataset", wildcards.digest, "searchspace")),
        images=images_h5(upstream_digest("io_dataset", wildcards.digest, "images")),
    )


def up_to(stage):
    """Every store file up to `stage` of every variant (after the checkpoint): the stage targets."""
    return lambda wildcards: sorted({path for variant in VARIANTS for path in store_files(variant, [stage])})


# ------------------------------------------------------------------------------ train.smk
def train_inputs(wildcards):
    """info-NAS variants train on the IO dataset; plain arch2vec needs only the search space."""
    inputs = {"space": searchspace_h5(upstream_digest("train", wildcards.digest, "searchspace"))}
    if uses_labels(wildcards.model):
        inputs.update(dataset=dataset_h5(upstream_digest("train", wildcards.digest, "io_dataset")),
                      images=images_h5(upstream_digest("train", wildcards.digest, "images")))
    return inputs


# ------------------------------------------------------------------------------ evaluate.smk
def benchmark_inputs(wildcards):
    """The search space; without metrics also the pretrained networks' records (they are the benchmark)."""
    rec = PLAN.record("benchmark", wildcards.digest)
    inputs = {"space": searchspace_h5(rec.upstream["searchspace"]), "pretrained": []}
    if "pretrain" in rec.upstream:
        hashes = network_hashes(rec.upstream["networks"])
        inputs["pretrained"] = [pretrained(rec.upstream["pretrain"], h, "json") for h in hashes]
    return inputs


def evaluation_inputs(stage):
    """The encoder's features at the job's epoch and the benchmark (and networks.csv where read)."""
    def inputs(w):
        rec = PLAN.record(stage, w.digest)
        files = {"embeddings": embedding_h5(rec.upstream["train"], w.model, w.seed, w.epoch),
                 "benchmark": benchmark_h5(rec.upstream["benchmark"])}
        if "networks" in rec.upstream:
            files["networks"] = networks_csv(rec.upstream["networks"])
        return files

    return inputs


def raw_evaluation_inputs(stage):
    """The raw cell features of the job's search space and the benchmark (and networks.csv where read)."""
    def inputs(w):
        rec = PLAN.record(stage, w.digest)
        files = {"embeddings": raw_features_h5(rec.upstream["raw_features"]),
                 "benchmark": benchmark_h5(rec.upstream["benchmark"])}
        if "networks" in rec.upstream:
            files["networks"] = networks_csv(rec.upstream["networks"])
        return files

    return inputs


# ------------------------------------------------------------------------------ report.smk
def variant_cfg(wildcards):
    return PLAN.variants[wildcards.variant]


def training_metrics(wildcards):
    """metrics.csv of every seed of one (variant, model)."""
    d = PLAN.digest(wildcards.variant, "train", wildcards.model)
    seeds = PLAN.variants[wildcards.variant]["train"]["seeds"]
    return {f"seed{seed}": f"{train_dir(d, wildcards.model, seed)}/metrics.csv" for seed in seeds}


def report_item(name, caption, category, figure, labels=("model",)):
    """A report() output under the variant's figures folder, labelled by variant, figure and wildcards."""
    tags = {"variant": "{variant}", **{key: f"{{{key}}}" for key in labels}, "figure": figure}
    return report(f"{FIGURES}/{name}", caption=f"../report/{caption}.rst", category=category, labels=tags)


def search_results(wildcards):
    """Both encoders' REINFORCE and BO searches of one (variant, model, seed, epoch), the raw features'
    search (where run), regularized evolution, random search and the benchmark."""
    v, model = wildcards.variant, wildcards.model
    d, bo_d = PLAN.digest(v, "reinforce", model), PLAN.digest(v, "bo", model)
    searches = {enc: search_h5(d, model, wildcards.seed, wildcards.epoch, enc) for enc in encoders_of(model)}
    if raw_evaluated(v):
        searches[RAW] = raw_search_h5(PLAN.digest(v, "reinforce", RAW))
        searches[f"bo_{RAW}"] = raw_bo_h5(PLAN.digest(v, "bo", RAW))
    searches.update({f"bo_{enc}": bo_h5(bo_d, model, wildcards.seed, wildcards.epoch, enc) for enc in encoders_of(model)})
    return dict(searches, evolution=evolution_h5(PLAN.digest(v, "evolution")),
                random=random_h5(PLAN.digest(v, "random_search")), benchmark=benchmark_h5(PLAN.digest(v, "benchmark")))


def prediction_results(wildcards):
    v, model = wildcards.variant, wildcards.model
    d = PLAN.digest(v, "predict", model)
    seeds = PLAN.variants[v]["train"]["seeds"]
    raw = [raw_predict_csv(PLAN.digest(v, "predict", RAW))] if raw_evaluated(v) else []
    return [predict_csv(d, model, seed, wildcards.epoch, enc) for seed in seeds for enc in encoders_of(model)] + raw


def prediction_pairs_results(wildcards):
    """The scatter pairs (arch2vec Fig. 2) written beside `prediction_results`."""
    return [path.removesuffix(".csv") + "_pairs.csv" for path in prediction_results(wildcards)]


def latent_distance_entries(variant):
    """(model, epoch, embeddings of the first seed) of every model of a variant at each evaluated epoch."""
    cfg = PLAN.variants[variant]
    return [(model, epoch, embedding_h5(PLAN.digest(variant, "train", model), model, cfg["train"]["seeds"][0], epoch))
            for model in cfg["train"]["models"] for epoch in embed_epochs(variant, model)]


def latent_distance_inputs(wildcards):
    """The variant's search space (its cells) and the embeddings the latent distances are measured on."""
    return {"space": searchspace_h5(PLAN.digest(wildcards.variant, "searchspace")),
            "embeddings": [path for _, _, path in latent_distance_entries(wildcards.variant)]}


# ------------------------------------------------------------------------------ compare.smk
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


def last_epoch(variant, model):
    return embed_epochs(variant, model)[-1]


def feature_sets(variants, kind, every_epoch=False):
    """(label, group, encoder, [result files over training seeds]) per feature set of the variants:
    each model's encoders at its last evaluated epoch (every evaluated epoch with `every_epoch`),
    labelled by model variant (infonas.models.variants.label_feature_sets), then the raw cell features
    where the variants run them; `kind`: reinforce, bo or predict."""
    path = {"reinforce": search_h5, "bo": bo_h5, "predict": predict_csv}[kind]
    raw_path = {"reinforce": raw_search_h5, "bo": raw_bo_h5, "predict": raw_predict_csv}[kind]
    raw = label_raw_feature_sets([(v, [raw_path(PLAN.digest(v, kind, RAW))]) for v in variants
                                  if raw_evaluated(v)])
    sets = []
    for v in variants:
        cfg = PLAN.variants[v]
        for model in cfg["train"]["models"]:
            d = PLAN.digest(v, kind, model)
            for epoch in embed_epochs(v, model) if every_epoch else [last_epoch(v, model)]:
                for encoder in encoders_of(model):
                    sets.append((v, model, epoch, encoder, [path(d, model, s, epoch, encoder) for s in cfg["train"]["seeds"]]))
    return label_feature_sets(sets) + raw


def search_curves(variants, every_epoch=False):
    """The feature sets' REINFORCE searches, their BO searches ("BO: " labels, colours of their own), then
    regularized evolution and, last, random search (grey): the curves of a regret figure."""
    bo = [(f"BO: {label}", f"bo/{group}", f"bo_{encoder}" if encoder == RAW else encoder, files)
          for label, group, encoder, files in feature_sets(variants, "bo", every_epoch)]
    evolution = ("regularized evolution", "", "evolution", [evolution_h5(PLAN.digest(variants[0], "evolution"))])
    random = ("random search", "", "random", [random_h5(PLAN.digest(variants[0], "random_search"))])
    return feature_sets(variants, "reinforce", every_epoch) + bo + [evolution, random]


def curve_files(curves):
    return sorted({f for *_, files in curves for f in files})


def evaluated_variants(comparison):
    return [v for v in PLAN.comparisons[comparison].varied if PLAN.evaluated(v)]


def heatmap_inputs(wildcards):
    """The last saved epoch of the variant's first info-NAS seed, its IO dataset, images and scaler."""
    v, model = wildcards.variant, wildcards.model
    d, cfg = PLAN.digest(v, "train", model), PLAN.variants[v]
    dataset = upstream_digest("train", d, "io_dataset")
    return {"weights": f"{train_dir(d, model, cfg['train']['seeds'][0])}/weights.pt",
            "dataset": dataset_h5(dataset), "images": images_h5(upstream_digest("train", d, "images")),
            "scaler": scaler_h5(upstream_digest("train", d, "fit_scaler"))}


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
