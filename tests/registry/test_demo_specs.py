"""The demo trains every family of the lecture's taxonomy on data it can model: the image models
on digits (an RBM left out: it models binary images only), the RBM beside a VAE on binary
MNIST, and a VAE on shapes at three β for the disentanglement trade-off."""

from __future__ import annotations

from genzoo.registry.demo import BETAS, demo_specs


def test_the_demo_puts_each_model_on_data_it_can_model(registry):
    specs = demo_specs(registry)
    digits = specs["demo-digits"]
    assert "rbm" not in digits.models
    assert {"gumbel-vae", "vae-vamp", "vae-iaf", "vae"} <= set(digits.models)
    binary = specs["demo-binary"]
    assert binary.models == ("rbm", "vae") and binary.datasets == ("mnist-binary",)
    assert binary.seconds == digits.seconds  # one budget for the families side by side
    for beta in BETAS:
        spec = specs[f"demo-beta-{beta}"]
        assert spec.models == ("vae",) and spec.datasets == ("shapes",)
        assert spec.settings == {"vae": {"beta": str(beta)}}
    assert BETAS == (1, 4, 10)
