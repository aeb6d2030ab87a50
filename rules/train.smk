# Joint semi-supervised training (thesis 3.4): info-NAS and the reference arch2vec side by side.


rule train:
    input:
        unpack(train_inputs),
    output:  # update(): a failing rerun (--forcerun) restores the previous outputs instead of losing them
        metrics=update(f"{train_dir('{digest}', '{model}', '{seed}')}/metrics.csv"),
        weights=update(f"{train_dir('{digest}', '{model}', '{seed}')}/weights.pt"),
    params:
        settings=section("train", "train"),
        compute_threads=setting("train", "compute_threads"),
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("train", "{model}_seed{seed}"),
    benchmark:
        bench_of("train", "{model}_seed{seed}")
    group:
        "train"
    threads: 2
    resources:
        **cluster_resources("train"),
    script:
        "../workflow_scripts/train.py"


rule embed:
    input:
        weights=rules.train.output.weights,
        space=lambda w: searchspace_h5(upstream_digest("train", w.digest, "searchspace")),
    output:
        embedding_h5("{digest}", "{model}", "{seed}", "{epoch}"),
    params:
        compute_threads=setting("train", "compute_threads"),
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("train", "embed_{model}_seed{seed}_epoch{epoch}"),
    group:
        "train"
    threads: 2
    resources:
        **cluster_resources("embed", stage="train"),
    script:
        "../workflow_scripts/embed.py"
