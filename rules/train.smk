# Joint semi-supervised training (thesis 3.4): info-NAS and the reference arch2vec side by side.


rule train:
    input:
        unpack(train_inputs),
    output:
        metrics=f"{RUN}/models/{{model}}/seed{{seed}}/metrics.csv",
        weights=expand(
            f"{RUN}/models/{{{{model}}}}/seed{{{{seed}}}}/epoch{{epoch}}.pt",
            epoch=SAVED_EPOCHS,
        ),
    params:
        settings=settings("train", "models", "seeds", "gpu_percent"),
        device=config["device"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/train/{{model}}_seed{{seed}}.log",
    benchmark:
        f"{BENCH}/train/{{model}}_seed{{seed}}.tsv"
    threads: 2
    resources:
        mem_mb=32000,
        gpu_percent=lookup(dpath="train/gpu_percent", within=config),
        runtime=600,
    script:
        "../workflow_scripts/train.py"
