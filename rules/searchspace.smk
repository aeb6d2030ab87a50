# Data preparation: the NB-101 search space and the image splits.


rule enumerate_cells:
    output:
        f"{CACHE}/nb101_cells.h5",
    conda:
        "../envs/infonas.yaml"
    log:
        f"{CACHE}/logs/enumerate_cells.log",
    benchmark:
        f"{CACHE}/benchmarks/enumerate_cells.tsv"
    threads: 2
    resources:
        mem_mb=8000,
    script:
        "../workflow_scripts/enumerate_cells.py"


rule searchspace:
    input:
        unpack(lambda wildcards: searchspace_inputs()),
    output:
        f"{RUN}/searchspace.h5",
    params:
        settings=lookup(dpath="searchspace", within=config),
        seed=config["seed"],
        cache_dir=CACHE,
        download_timeout_s=config["download_timeout_s"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/searchspace.log",
    benchmark:
        f"{BENCH}/searchspace.tsv"
    threads: 1
    resources:
        mem_mb=8000,
    script:
        "../workflow_scripts/searchspace.py"


rule images:
    output:
        f"{RUN}/images.h5",
    params:
        settings=lookup(dpath="images", within=config),
        seed=config["seed"],
        download_timeout_s=config["download_timeout_s"],
    conda:
        "../envs/infonas.yaml"
    log:
        f"{LOGS}/images.log",
    threads: 2
    resources:
        mem_mb=4000,
    script:
        "../workflow_scripts/images.py"
