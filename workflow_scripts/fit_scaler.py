"""Rule fit_scaler: per-network and final statistics of the configured scaling variant ->
results/store/fit_scaler/<digest>/scaler.h5 (store_dir's default; layout: infonas.data.scaling)."""
from pathlib import Path

from infonas.data.scaling import fit_scaler, save_scaler
from infonas.nets.sampling import read_networks
from infonas.runtime import run_rule


def main(smk):
    networks = read_networks(smk.input.networks)
    shards = {Path(path).stem: path for path in smk.input.shards}
    train = networks.loc[networks["role"] == "train", "hash"].tolist()
    stats = fit_scaler(shards, smk.params.io["scaling"], order=smk.params.io["scaling_order"], train_hashes=train,
                       progress=True)
    save_scaler(smk.output[0], stats)


run_rule(main, snakemake)  # noqa: F821 (injected by Snakemake)
