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
    group:
        "prepare"
    threads: 2
    resources:
        **cluster_resources("enumerate_cells"),
    script:
        "../workflow_scripts/enumerate_cells.py"


rule searchspace:
    input:
        unpack(searchspace_inputs),
    output:
        searchspace_h5("{digest}"),
    params:
        settings=section("searchspace", "searchspace"),
        seed=setting("searchspace", "seed"),
        cache_dir=CACHE,
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("searchspace", "searchspace"),
    benchmark:
        bench_of("searchspace", "searchspace")
    group:
        "prepare"
    threads: 1
    resources:
        **cluster_resources("searchspace"),
    script:
        "../workflow_scripts/searchspace.py"


rule images:
    output:
        images_h5("{digest}"),
    params:
        settings=section("images", "images"),
        seed=setting("images", "seed"),
    conda:
        "../envs/infonas.yaml"
    log:
        log_of("images", "images"),
    group:
        "prepare"
    threads: 2
    resources:
        **cluster_resources("images"),
    script:
        "../workflow_scripts/images.py"
