"""The small conv encoder/decoder pair the VAE family shares (vae, vae-vamp, vae-iaf,
gumbel-vae): two stride-2 convolutions down to H/4, mirrored by upsampling. The decoder shares
its filters across positions, which generalizes from 1,437 digits far better than an MLP's
position-specific weights."""

from __future__ import annotations

from torch import nn


def conv_encoder_decoder(shape: tuple[int, int, int], encoded: int, decoded: int, ch: int,
                         n_params: int) -> tuple[nn.Module, nn.Module]:
    """x (N, C, H, W) -> ``encoded`` features; a code of ``decoded`` numbers -> ``n_params``
    pixel parameters per pixel (N, P, H, W); ``ch`` feature maps at full resolution."""
    channels, height, width = shape
    half = (height + 1) // 2, (width + 1) // 2  # a 3x3 conv, stride 2, padding 1: ceil(H / 2)
    quarter = (half[0] + 1) // 2, (half[1] + 1) // 2
    flat = 2 * ch * quarter[0] * quarter[1]
    encoder = nn.Sequential(  # (N, C, H, W) -> (N, 2ch, H/4, W/4) -> (N, encoded)
        nn.Conv2d(channels, ch, 3, padding=1), nn.ReLU(),
        nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(2 * ch, 2 * ch, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(flat, encoded))
    decoder = nn.Sequential(  # (N, decoded) -> (N, 2ch, H/4, W/4) -> (N, P, H, W)
        nn.Linear(decoded, flat), nn.ReLU(), nn.Unflatten(1, (2 * ch, *quarter)),
        nn.Conv2d(2 * ch, 2 * ch, 3, padding=1), nn.ReLU(), nn.Upsample(size=half),
        nn.Conv2d(2 * ch, ch, 3, padding=1), nn.ReLU(), nn.Upsample(size=(height, width)),
        nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, n_params, 1))
    return encoder, decoder
