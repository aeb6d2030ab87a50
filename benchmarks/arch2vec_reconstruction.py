"""arch2vec alone on the enumerated NB-101 space: held-out reconstruction per epoch under both VAE
schedules, next to the highest adjacency accuracy the encoder can reach; prints JSON.

- `paper`: train mode every epoch (dropout on Z, posterior sampling), as the papers describe and as
  info-NAS trained its reference arch2vec (`train.vae_train_mode_epochs: null`).
- `released`: arch2vec's released script, which trains in eval mode from its second epoch on
  (`train.vae_train_mode_epochs: 1`).

The split is the workflow's seeded 90/10 split of the 423,624 cells; the settings are arch2vec's
(batch 32, Adam 1e-3, clip 5). `--max-train` shrinks the training cells for a quick look,
`--max-vertices` the space itself (cells of at most that many vertices, enumerated into `--cache`).

    python benchmarks/arch2vec_reconstruction.py --epochs 3 --cache results/_cache/nb101_cells.h5
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile

import torch

from infonas.models.info_nas import InfoNASConfig
from infonas.runtime import resolve_device
from infonas.searchspace.enumerate import load_or_enumerate
from infonas.searchspace.store import assign_split
from infonas.training.joint import CellSet, JointConfig, train_joint
from infonas.training.metrics import adjacency_ceiling
from infonas.training.run import searchspace_cells

SCHEDULES = {"paper": None, "released": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--schedules", default="paper,released", help="comma-separated: paper, released")
    parser.add_argument("--cache", default="results/_cache/nb101_cells.h5", help="enumeration cache (made if absent)")
    parser.add_argument("--max-train", type=int, default=None, help="use only this many training cells")
    parser.add_argument("--max-vertices", type=int, default=7, help="cells of at most this many vertices (NB-101: 7)")
    parser.add_argument("--eval-max-samples", type=int, default=20000, help="held-out cells scored per epoch")
    parser.add_argument("--latent-points", type=int, default=JointConfig.n_latent_points,
                        help="latent samples decoded per epoch for validity and uniqueness")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    space = assign_split(load_or_enumerate(args.cache, max_vertices=args.max_vertices), 0.1, args.seed)
    unlabeled, heldout = searchspace_cells(space)
    if args.max_train is not None:
        unlabeled = CellSet(unlabeled.adjacency[: args.max_train], unlabeled.ops[: args.max_train])
    device = torch.device(resolve_device(args.device))
    model = InfoNASConfig(out_features=1)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch_threads": torch.get_num_threads(), "max_vertices": args.max_vertices,
        "n_train": len(unlabeled), "n_heldout": len(heldout),
        "heldout_adj_ceiling": adjacency_ceiling(heldout.adjacency.numpy(), heldout.ops.numpy(), model.vae.gin_layers),
        "schedules": {},
    }
    for name in args.schedules.split(","):
        config = JointConfig(epochs=args.epochs, checkpoint_every=args.epochs, seed=args.seed,
                             eval_max_samples=args.eval_max_samples, n_latent_points=args.latent_points,
                             vae_train_mode_epochs=SCHEDULES[name])
        with tempfile.TemporaryDirectory() as out:
            rows = train_joint(out, unlabeled, None, heldout, model, config, device)
        keys = ("epoch", "seconds", "ops_acc", "adj_acc", "validity", "uniqueness", "uniqueness_unpruned")
        result["schedules"][name] = [{k: r[k] for k in keys} for r in rows]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
