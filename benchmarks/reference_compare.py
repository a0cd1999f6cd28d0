"""Genzoo's training speed as a ratio to plain PyTorch references, at equal bits/dim.

    .venv/bin/python benchmarks/reference_compare.py [--models pixelcnn,vae] [--steps 300]
        [--device auto|cpu|cuda] [--precision fp32|bf16] [--compile] [--threads N]

For each model, genzoo's model (its default config) and the reference of the same architecture
in benchmarks/reference/ (van den Oord et al. 2016 for PixelCNN, Kingma & Welling 2014 for the
VAE) are trained side by side in one process: the same seed (hence the same initial weights),
the same optimizer as genzoo's ``configure_optimizers``, the same batches, and each model's own
torch RNG stream (dropout masks, VAE noise), so the two follow the same trajectory up to float
rounding. Training alternates blocks of steps between the two, so machine noise hits both
alike. Reported per model: parameters of each (they must match), the median step time after
warm-up, genzoo / reference (below 1: genzoo is faster), and test bits/dim of each after
training. Writes reference.json and reference.md to --out and prints the table.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks.reference

from genzoo.registry.config import build_config  # noqa: E402
from genzoo.registry.devices import describe_device, resolve_device  # noqa: E402
from genzoo.registry.evaluation import count_parameters, evaluate  # noqa: E402
from genzoo.registry.plugins import get_registry  # noqa: E402
from genzoo.registry.runs import build_model, load_dataset  # noqa: E402

from benchmarks.reference import pixelcnn as reference_pixelcnn  # noqa: E402
from benchmarks.reference import vae as reference_vae  # noqa: E402

# genzoo model name -> (reference class, genzoo config fields its constructor takes)
REFERENCES = {
    "pixelcnn": (reference_pixelcnn.PixelCNN, ("hidden", "layers", "first_kernel", "dropout")),
    "vae": (reference_vae.VAE, ("latent_dim", "channels", "elbo_samples")),
}


def build_reference(name: str, config, info) -> torch.nn.Module:
    """The reference of genzoo's model ``name`` with ``config``'s architecture, for ``info``."""
    cls, fields = REFERENCES[name]
    return cls(info.shape, info.levels, **{field: getattr(config, field) for field in fields})


def check_same_setup(name: str, model) -> None:
    """The references implement genzoo's defaults only: refuse a config that resolves elsewhere."""
    if name == "vae" and (model.arch, model.likelihood.kind) != ("conv", "categorical"):
        raise SystemExit(f"the reference VAE is the conv net with a categorical decoder; this "
                         f"dataset resolves to arch={model.arch}, decoder={model.likelihood.kind}")


def scalar_loss(module, batch):
    """A model's training loss as one scalar (genzoo returns a dict of named parts)."""
    out = module.loss(batch)
    return out["loss"] if isinstance(out, dict) else out


def wrap_loss(module, batch, precision: str, compile_: bool, device: torch.device) -> bool:
    """Replace ``module.loss`` by its compiled and/or bf16-autocast version; True if compiled.

    torch.compile is lazy, so a trial forward and backward runs here (its RNG use undone, its
    gradients dropped); if it raises, the loss stays eager and a warning says why.
    """
    eager, compiled = module.loss, False
    if compile_:
        module.loss = torch.compile(eager)
    if precision == "bf16":
        inner = module.loss

        def autocast_loss(*args, **kwargs):
            with torch.autocast(device.type, dtype=torch.bfloat16):
                return inner(*args, **kwargs)
        module.loss = autocast_loss
    if compile_:
        states = rng_states(device)
        try:
            scalar_loss(module, batch).backward()
            compiled = True
        except Exception as exc:  # noqa: BLE001 - any compiler failure falls back to eager
            warnings.warn(f"torch.compile failed for {type(module).__name__} "
                          f"({type(exc).__name__}: {exc}); timing it eagerly", stacklevel=2)
            print(f"WARNING: torch.compile failed for {type(module).__name__}; eager instead",
                  file=sys.stderr)
            del module.loss
            return wrap_loss(module, batch, precision, False, device)
        finally:
            module.zero_grad(set_to_none=True)
            set_rng_states(states, device)
    return compiled


def rng_states(device: torch.device) -> list[torch.Tensor]:
    """The global torch RNG state (and the GPU's): dropout and VAE noise draw from it."""
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    return states


def set_rng_states(states: list[torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(states[0])
    if device.type == "cuda":
        torch.cuda.set_rng_state(states[1], device)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compare_one(registry, name: str, data, device: torch.device, args, seed: int) -> dict:
    """Train genzoo's model and its reference side by side; their sizes, speeds and bits/dim."""
    spec = registry.model(name)
    overrides = {"batch_size": args.batch_size} if args.batch_size else {}
    config = build_config(spec.config_class, overrides)
    batch_size = config.batch_size
    torch.manual_seed(seed)
    genzoo = build_model(spec, config, data.info).to(device)
    check_same_setup(name, genzoo)
    genzoo_state = rng_states(device)
    torch.manual_seed(seed)  # the same draws in the same order: the same initial weights
    reference = build_reference(name, config, data.info).to(device)
    reference_state = rng_states(device)
    same_init = all(torch.equal(p, q) for p, q in zip(reference.parameters(),
                                                      genzoo.parameters()))
    genzoo.train(), reference.train()

    genzoo_optimizers = genzoo.configure_optimizers()
    (optimizer,) = genzoo_optimizers
    # the same optimizer class with the same settings (Adam, or AdamW with weight decay)
    accepted = inspect.signature(type(optimizer)).parameters  # AdamW fixes some Adam defaults
    reference_optimizer = type(optimizer)(reference.parameters(), **{
        key: value for key, value in optimizer.defaults.items() if key in accepted})
    dims = data.info.dims

    def reference_step(batch):
        reference_optimizer.zero_grad(set_to_none=True)
        loss = reference.loss(batch) / dims  # per dimension, as genzoo: the same gradients
        loss.backward()
        reference_optimizer.step()
        return loss.item()  # logged every step, as the public training loops do

    train = data.train.to(device)
    first = train[:batch_size]
    compiled = [wrap_loss(genzoo, first, args.precision, args.compile, device),
                wrap_loss(reference, first, args.precision, args.compile, device)]
    sides = [  # step, batch generator, RNG state, step times
        [lambda batch: genzoo.training_step(batch, genzoo_optimizers),
         torch.Generator().manual_seed(seed + 1), genzoo_state, []],
        [reference_step, torch.Generator().manual_seed(seed + 1), reference_state, []]]
    for block, start in enumerate(range(0, args.steps, args.block)):
        stop = min(start + args.block, args.steps)
        for side in (sides if block % 2 == 0 else sides[::-1]):  # who goes first alternates
            step, generator, state, times = side
            set_rng_states(state, device)
            for _ in range(start, stop):
                index = torch.randint(len(train), (batch_size,), generator=generator)
                batch = train[index.to(device)]
                sync(device)
                began = time.perf_counter()
                step(batch)
                sync(device)
                times.append(time.perf_counter() - began)
            side[2] = rng_states(device)

    for module in (genzoo, reference):
        module.__dict__.pop("loss", None)  # back to the eager, fp32 loss method
    warmup = min(args.warmup, args.steps - 1)
    genzoo_ms, reference_ms = (1000 * statistics.median(side[3][warmup:]) for side in sides)
    genzoo_bpd = evaluate(genzoo, spec, data, "test")["bits_per_dim"]
    reference_bpd = reference.bits_per_dim(data.test.to(device))
    params = count_parameters(genzoo), count_parameters(reference)
    return {"model": name, "seed": seed, "params_genzoo": params[0],
            "params_reference": params[1], "params_match": params[0] == params[1],
            "same_init": same_init, "genzoo_ms": genzoo_ms, "reference_ms": reference_ms,
            "ratio": genzoo_ms / reference_ms, "genzoo_bits_per_dim": genzoo_bpd,
            "reference_bits_per_dim": reference_bpd,
            "bound": "exact" if spec.density == "exact" else "elbo",
            "optimizer": type(optimizer).__name__, "lr": optimizer.defaults["lr"],
            "weight_decay": optimizer.defaults.get("weight_decay", 0.0),
            "batch_size": batch_size, "steps": args.steps, "timed_steps": args.steps - warmup,
            "compiled_genzoo": compiled[0], "compiled_reference": compiled[1]}


def markdown(result: dict) -> str:
    """The rows as a Markdown table under a line saying where and how they were measured."""
    lines = [f"Reference comparison on {result['dataset']}: {result['device']}, torch "
             f"{result['torch']}, {result['precision']}, compile={result['compile']}, "
             f"{result['steps']} steps (median after {result['warmup']} warm-up steps)", "",
             "| model | seed | params (genzoo / reference) | genzoo ms/step | reference ms/step "
             "| genzoo / reference | genzoo bits/dim | reference bits/dim |",
             "|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        params = (f"{row['params_genzoo']:,}" if row["params_match"]
                  else f"{row['params_genzoo']:,} / {row['params_reference']:,} (DIFFER)")
        lines.append(f"| {row['model']} | {row['seed']} | {params} | {row['genzoo_ms']:.2f} | "
                     f"{row['reference_ms']:.2f} | {row['ratio']:.2f} | "
                     f"{row['genzoo_bits_per_dim']:.3f} | {row['reference_bits_per_dim']:.3f} |")
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="pixelcnn,vae")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--steps", type=int, default=300, help="training steps per model")
    parser.add_argument("--warmup", type=int, default=10, help="first steps left out of timing")
    parser.add_argument("--block", type=int, default=10, help="steps per interleaved block")
    parser.add_argument("--seeds", default="0", help="comma list")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default: genzoo config's batch_size")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    parser.add_argument("--compile", action="store_true", help="torch.compile both losses")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error("--steps must be at least 2 (one warm-up, one timed)")
    return args


def main(argv=None) -> dict:
    """Run the comparison; returns the result (rows, markdown) and writes it to --out."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    registry = get_registry()
    data = load_dataset(registry, args.dataset)
    models = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = [name for name in models if name not in REFERENCES]
    if unknown:
        raise SystemExit(f"no reference for {', '.join(unknown)}; have {', '.join(REFERENCES)}")
    rows = [compare_one(registry, name, data, device, args, int(seed))
            for name in models for seed in args.seeds.split(",")]
    result = {"dataset": args.dataset, "device": describe_device(device),
              "torch": torch.__version__, "precision": args.precision, "compile": args.compile,
              "threads": torch.get_num_threads(), "steps": args.steps,
              "warmup": min(args.warmup, args.steps - 1), "rows": rows}
    result["markdown"] = markdown(result)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "reference.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "reference.md").write_text(result["markdown"])
    print(result["markdown"])
    for row in rows:
        if not row["params_match"]:
            print(f"WARNING: {row['model']}: parameter counts differ", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
