"""info-NAS: the arch2vec VAE plus a regressor of a trained network's output for an input image.

Thesis section 3.3 / paper section 3.3: the latent matrix Z (7 x 16) goes to the arch2vec decoder
*and*, flattened, through a dense layer + ReLU; the image goes through 3x3 conv blocks (conv, BN, ReLU;
the last conv of each block has stride 2) and a global average pool; both vectors are concatenated
and passed through two dense layers, each followed by ReLU and dropout 0.5, and a linear output of
513 features (the sorted 512 global-average-pool outputs plus the bias feature).

Widths not stated in the text come from the thesis' reference configuration ("dense" model): a
3x3 stem conv to 128 channels, 2 blocks of 2 convs (the stride-2 conv doubles the channels, so
128 -> 256 -> 512 at 8x8), a 16-wide dense layer for Z, and 512-wide dense layers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from infonas.errors import InfonasError
from infonas.models.vae import ArchVAE, VAEConfig, VAEOutput


@dataclass(frozen=True)
class InfoNASConfig:
    """The VAE's settings plus the regressor's layer counts and widths (thesis defaults)."""

    vae: VAEConfig = field(default_factory=VAEConfig)
    out_features: int = 513
    image_channels: int = 3
    z_hidden: int = 16  # dense + ReLU applied to flattened Z
    stem_channels: int = 128  # first 3x3 conv of the image branch
    n_conv_blocks: int = 2
    convs_per_block: int = 2  # the block's last conv has stride 2 and doubles the channels
    dense_size: int = 512
    n_dense: int = 2  # dense layers after the concatenation, each + ReLU + dropout
    dense_dropout: float = 0.5

    def __post_init__(self) -> None:
        if isinstance(self.vae, dict):  # from a checkpoint's plain dict
            object.__setattr__(self, "vae", VAEConfig(**self.vae))
        for key in ("out_features", "image_channels", "z_hidden", "stem_channels", "convs_per_block", "dense_size"):
            if getattr(self, key) < 1:
                raise InfonasError(f"InfoNASConfig.{key}: must be >= 1, got {getattr(self, key)}")
        for key in ("n_conv_blocks", "n_dense"):
            if getattr(self, key) < 0:
                raise InfonasError(f"InfoNASConfig.{key}: must be >= 0, got {getattr(self, key)}")
        if not 0.0 <= self.dense_dropout < 1.0:
            raise InfonasError(f"InfoNASConfig.dense_dropout: must be in [0, 1), got {self.dense_dropout}")

    def to_dict(self) -> dict:
        return asdict(self)


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


def _image_branch(c: InfoNASConfig) -> tuple[nn.Sequential, int]:
    layers = [_conv_bn_relu(c.image_channels, c.stem_channels)]
    width = c.stem_channels
    for _ in range(c.n_conv_blocks):
        layers += [_conv_bn_relu(width, width) for _ in range(c.convs_per_block - 1)]
        layers.append(_conv_bn_relu(width, 2 * width, stride=2))
        width *= 2
    return nn.Sequential(*layers), width


def _head(c: InfoNASConfig, d_in: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = d_in
    for _ in range(c.n_dense):
        layers += [nn.Linear(width, c.dense_size), nn.ReLU(), nn.Dropout(c.dense_dropout)]
        width = c.dense_size
    layers.append(nn.Linear(width, c.out_features))
    return nn.Sequential(*layers)


class InfoNAS(nn.Module):
    """forward(adjacency (B,7,7), ops (B,7), images (B,C,H,W) normalised float) -> (VAEOutput, (B, out))."""

    def __init__(self, config: InfoNASConfig = InfoNASConfig()):
        super().__init__()
        self.config = config
        # Built first, so a plain ArchVAE built after re-seeding with the same seed starts identical.
        self.vae = ArchVAE(config.vae)
        v = config.vae
        self.z_dense = nn.Sequential(nn.Flatten(), nn.Linear(v.n_nodes * v.latent_dim, config.z_hidden), nn.ReLU())
        self.image_branch, image_width = _image_branch(config)
        self.head = _head(config, config.z_hidden + image_width)

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """The image branch: normalised images (B, C, H, W) -> globally average-pooled features (B, width)."""
        if images.ndim != 4 or images.shape[1] != self.config.image_channels:
            raise InfonasError(
                f"InfoNAS images: expected (B, {self.config.image_channels}, H, W), got {tuple(images.shape)}"
            )
        return self.image_branch(images).mean(dim=(2, 3))

    def head_outputs(self, z_features: torch.Tensor, image_features: torch.Tensor) -> torch.Tensor:
        """Predicted outputs (B, out_features) from `z_dense` features and `image_features`.

        Split from `regress` so that evaluation (eval mode: every sample on its own) can compute each
        network's and each image's features once and pair them here for every sample.
        """
        return self.head(torch.cat([z_features, image_features], dim=1))

    def regress(self, z: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Predicted outputs (B, out_features) from latent matrices (B, 7, 16) and normalised images."""
        return self.head_outputs(self.z_dense(z), self.image_features(images))

    def forward(self, adjacency: torch.Tensor, ops: torch.Tensor, images: torch.Tensor) -> tuple[VAEOutput, torch.Tensor]:
        out = self.vae(adjacency, ops)
        return out, self.regress(out.z, images)


def images_to_input(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (B, H, W, C) -> float (B, C, H, W), scaled to [0, 1] then normalised per channel.

    The result is a permuted view of an NHWC tensor, i.e. already in channels_last memory format,
    which is what cuDNN prefers for the conv branch.
    """
    if images.ndim != 4 or images.shape[-1] != mean.shape[-1]:
        raise InfonasError(f"images: expected uint8 (B, H, W, {mean.shape[-1]}), got {tuple(images.shape)}")
    x = (images.float() / 255.0 - mean) / std
    return x.permute(0, 3, 1, 2)
