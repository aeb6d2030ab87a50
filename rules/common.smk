# Config validation (one line naming the key), paths and input functions. No algorithms here.
from snakemake.exceptions import WorkflowError

from infonas.config import validate_config
from infonas.errors import InfonasError

try:
    validate_config(config)
except InfonasError as error:
    raise WorkflowError(f"infonas: {error}")

RUN = f"results/{config['run']}"
CACHE = config["cache_dir"]
LOGS = f"{RUN}/logs"
BENCH = f"{RUN}/benchmarks"


wildcard_constraints:
    hash="[0-9a-f]{32}",
    seed="[0-9]+",
    epoch="[0-9]+",


def searchspace_inputs():
    """The enumerated cells cache is an input only when the space is enumerated."""
    if config["searchspace"]["source"] == "enumerate":
        return {"cells": f"{CACHE}/nb101_cells.h5"}
    return {}


def final_outputs():
    """Targets of `rule all`, grown stage by stage."""
    return [f"{RUN}/searchspace.h5", f"{RUN}/images.h5"]
