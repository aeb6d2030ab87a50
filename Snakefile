# infonas: info-NAS end to end. This file is a table of contents; rules/ wire files, infonas/ computes.
from snakemake.utils import min_version

min_version("8.20")


# The embedded default, unless --configfile names the files of the run: those merge over the
# schema's defaults (the paper's settings) and nothing else, so a preset is complete on its own.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"



report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/inputs.smk"
include: "rules/searchspace.smk"
include: "rules/pretrain.smk"
include: "rules/train.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"
include: "rules/compare.smk"


rule all:
    default_target: True
    input:
        lambda wildcards: final_outputs(),
