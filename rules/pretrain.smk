# The IO dataset (thesis 3.1-3.2): sample networks, pretrain each, extract outputs, fit the scaler.


checkpoint sample_networks:
    input:
        rules.searchspace.output[0],
    output:
        f"{RUN}/networks.csv",
    params:
        networks=lookup(dpath="networks", within=config),
        seed=config["seed"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/sample_networks.log",
    threads: 1
    resources:
        mem_mb=2000,
    script:
        "../workflow_scripts/sample_networks.py"


rule pretrain:
    input:
        space=rules.searchspace.output[0],
        images=rules.images.output[0],
    output:
        weights=f"{RUN}/pretrained/{{hash}}.pt",
        metrics=f"{RUN}/pretrained/{{hash}}.json",
    params:
        settings=settings("pretrain", "gpu_percent"),
        device=config["device"],
        seed=config["seed"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/pretrain/{{hash}}.log",
    benchmark:
        f"{BENCH}/pretrain/{{hash}}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        gpu_percent=lookup(dpath="pretrain/gpu_percent", within=config),
        runtime=60,
    script:
        "../workflow_scripts/pretrain.py"


rule extract_io:
    input:
        weights=rules.pretrain.output.weights,
        space=rules.searchspace.output[0],
        images=rules.images.output[0],
    output:
        f"{RUN}/io/{{hash}}.h5",
    params:
        settings=settings("pretrain", "gpu_percent"),
        batch_size=lookup(dpath="io/batch_size", within=config),
        device=config["device"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/extract_io/{{hash}}.log",
    threads: 2
    resources:
        mem_mb=8000,
        gpu_percent=lookup(dpath="pretrain/gpu_percent", within=config),
    script:
        "../workflow_scripts/extract_io.py"


rule fit_scaler:
    input:
        networks=rules.sample_networks.output[0],
        shards=io_shards,
    output:
        f"{RUN}/io/scaler.h5",
    params:
        variant=lookup(dpath="io/scaling", within=config),
        order=lookup(dpath="io/scaling_order", within=config),
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/fit_scaler.log",
    threads: 1
    resources:
        mem_mb=8000,
    script:
        "../workflow_scripts/fit_scaler.py"


rule io_dataset:
    input:
        networks=rules.sample_networks.output[0],
        shards=io_shards,
        scaler=rules.fit_scaler.output[0],
        space=rules.searchspace.output[0],
        images=rules.images.output[0],
    output:
        f"{RUN}/io/dataset.h5",
    params:
        unseen_fraction=lookup(dpath="io/unseen_image_fraction", within=config),
        scaling_order=lookup(dpath="io/scaling_order", within=config),
        seed=config["seed"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/io_dataset.log",
    threads: 1
    resources:
        mem_mb=16000,
    script:
        "../workflow_scripts/io_dataset.py"
