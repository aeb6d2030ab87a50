# The IO dataset (thesis 3.1-3.2): sample networks, pretrain each, extract outputs, fit the scaler.


checkpoint sample_networks:
    input:
        lambda w: searchspace_h5(upstream_digest("networks", w.digest, "searchspace")),
    output:
        networks_csv("{digest}"),
    params:
        networks=section("networks", "networks"),
        seed=setting("networks", "seed"),
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("networks", "sample_networks"),
    localrule: True
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../workflow_scripts/sample_networks.py"


rule pretrain:
    input:
        space=lambda w: searchspace_h5(upstream_digest("pretrain", w.digest, "searchspace")),
        images=lambda w: images_h5(upstream_digest("pretrain", w.digest, "images")),
    output:  # update(): a failing rerun (--forcerun) restores the previous outputs instead of losing them
        weights=update(pretrained("{digest}", "{hash}", "pt")),
        metrics=update(pretrained("{digest}", "{hash}", "json")),
    params:
        settings=section("pretrain", "pretrain"),
        seed=setting("pretrain", "seed"),
        compute_threads=setting("pretrain", "compute_threads"),
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("pretrain", "{hash}"),
    benchmark:
        bench_of("pretrain", "{hash}")
    group:
        "network"
    threads: 2
    resources:
        **cluster_resources("pretrain"),
    script:
        "../workflow_scripts/pretrain.py"


rule extract_io:
    input:
        weights=lambda w: pretrained(upstream_digest("extract_io", w.digest, "pretrain"), w.hash, "pt"),
        space=lambda w: searchspace_h5(upstream_digest("extract_io", w.digest, "searchspace")),
        images=lambda w: images_h5(upstream_digest("extract_io", w.digest, "images")),
    output:
        shard_h5("{digest}", "{hash}"),
    params:
        settings=lambda w: upstream_record("extract_io", w.digest, "pretrain").section("pretrain"),
        batch_size=setting("extract_io", "io.batch_size"),
        compute_threads=setting("extract_io", "compute_threads"),
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("extract_io", "{hash}"),
    group:
        "network"
    threads: 2
    resources:
        **cluster_resources("extract_io"),
    script:
        "../workflow_scripts/extract_io.py"


rule fit_scaler:
    input:
        unpack(lambda w: scaler_inputs(w.digest)),
    output:
        scaler_h5("{digest}"),
    params:
        io=section("fit_scaler", "io"),
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("fit_scaler", "fit_scaler"),
    group:
        "io"
    threads: 1
    resources:
        **cluster_resources("fit_scaler"),
    script:
        "../workflow_scripts/fit_scaler.py"


rule io_dataset:
    input:
        unpack(dataset_inputs),
    output:
        dataset_h5("{digest}"),
    params:
        unseen_fraction=setting("io_dataset", "io.unseen_image_fraction"),
        seed=setting("io_dataset", "seed"),
        scaling_order=lambda w: upstream_record("io_dataset", w.digest, "fit_scaler").settings["io.scaling_order"],
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("io_dataset", "io_dataset"),
    group:
        "io"
    threads: 1
    resources:
        **cluster_resources("io_dataset"),
    script:
        "../workflow_scripts/io_dataset.py"


rule pretrain_all:  # `snakemake pretrain_all`: every variant's networks pretrained, nothing after
    input:
        up_to("pretrain"),
    localrule: True


rule extract_io_all:  # `snakemake extract_io_all`: up to the outputs of every pretrained network
    input:
        up_to("extract_io"),
    localrule: True


rule io_dataset_all:  # `snakemake io_dataset_all`: up to every variant's scaled IO dataset
    input:
        up_to("io_dataset"),
    localrule: True
