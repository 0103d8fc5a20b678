"""`lab.cnn`: a small convolutional network on the 8×8 digits or on `shapes`.

A convolution slides a small kernel over the image and takes a dot product at every position:
each output unit sees only a local patch (local receptive field) and every position uses the
same kernel (weight sharing), so the layer has k·k·C_in·C_out weights whatever the image size.
Each kernel gives one feature map; pooling (max or mean over 2×2 windows) halves the map's size
and makes it less sensitive to small shifts. After the last block a linear layer reads the
flattened maps and a softmax gives the class.

Data: the 8×8 digits (10 classes), or 32×32 colour images of one shape from the built-in
`shapes` set, classified by the shape (circle, square, triangle, diamond) whatever its colour,
size, position and background.

Artifacts: the first layer's learned kernels as images, and the feature maps of one chosen
validation image after every convolution, at intervals during training.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field, model_validator
from torch import nn
from torch.nn import functional as F

from difflab.datasets.shapes import SHAPES, ShapesDataset
from difflab.datasets.toy import load_dataset
from difflab.lab.common import confusion_artifact, emit, image_grid, train_val_split
from difflab.lab.mlp import ACTIVATIONS, Activation
from difflab.lab.nn import NNCommon, epoch_tag, epoch_tag_zh, fit, make_optimizer
from difflab.runtime import KindSpec, RunContext, Sink

SHAPES_IMAGES = 1200  # shapes images rendered when a run names none


class Params(NNCommon):
    """A convolutional classifier of 8×8 digit images."""

    model_config = ConfigDict(extra="forbid")

    dataset: Literal["digits", "shapes"] = Field(
        "digits",
        description="Image set: digits (scikit-learn's 1797 8×8 handwritten digits) or shapes "
        "(32×32 colour images of one shape; the class is the shape).",
    )
    n_images: int | None = Field(
        None,
        ge=100,
        le=20_000,
        description="shapes only: images rendered (training and validation together); "
        f"empty: {SHAPES_IMAGES}.",
    )
    val_fraction: float = Field(
        0.25, ge=0.05, le=0.5, description="Share of the images held out for validation."
    )
    channels: list[Annotated[int, Field(ge=1, le=64)]] = Field(
        default_factory=lambda: [8, 16],
        min_length=1,
        max_length=3,
        description="Kernels (output channels) of each convolution layer, input side first.",
    )
    kernel_size: Literal[3, 5] = Field(3, description="Side of the square kernels.")
    pooling: Literal["max", "avg"] = Field(
        "max", description="2×2 pooling after each convolution: max or avg (mean)."
    )
    activation: Activation = Field(
        "relu",
        description="Activation after each convolution: relu, tanh, sigmoid, gelu, leaky_relu.",
    )
    probe_index: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Validation image whose feature maps are drawn (taken modulo the number of "
        "validation images).",
    )
    artifact_every: int = Field(
        5, ge=1, le=5000, description="Epochs between filter and feature-map images."
    )
    lr: float = Field(5e-3, gt=0.0, le=10.0, description="Learning rate (step size).")
    batch_size: int = Field(64, ge=1, le=4096, description="Images per gradient step.")
    epochs: int = Field(15, ge=1, le=5000, description="Passes over the training set.")

    @model_validator(mode="after")
    def _n_images_for_shapes(self) -> Params:
        if self.n_images is not None and self.dataset != "shapes":
            raise ValueError("n_images applies to dataset 'shapes' only")
        return self


SHAPES_SIZE = 32  # shapes are rendered at 32×32: the smallest shape is still 12 pixels wide


def load_images(p: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(X_train, X_val, y_train, y_val, class names); images (N, C, H, W) in [0, 1]."""
    if p.dataset == "digits":
        data = load_dataset("digits")
        images = data.X.reshape(-1, 1, 8, 8) / 16.0  # digits' pixels are 0..16 -> [0, 1]
        X_tr, X_va, y_tr, y_va = train_val_split(images, data.y, p.val_fraction, p.seed)
        return X_tr, X_va, y_tr, y_va, data.target_names
    # shapes: single-object scenes; the train and val splits are disjoint streams
    n_images = p.n_images or SHAPES_IMAGES
    n_val = max(10, int(round(p.val_fraction * n_images)))
    out = []
    splits: tuple[tuple[Literal["train", "val"], int], ...] = (
        ("train", n_images - n_val),
        ("val", n_val),
    )
    for split, n in splits:
        ds = ShapesDataset(
            n, split=split, seed=p.seed, resolution=SHAPES_SIZE, two_object_fraction=0.0
        )
        imgs, labels = [], []
        for i in range(n):
            sample = ds[i]
            imgs.append(np.asarray(sample.image, dtype=np.float32).transpose(2, 0, 1) / 255.0)
            labels.append(SHAPES.index(sample.scene.objects[0].shape))
        out.append((np.stack(imgs), np.array(labels, dtype=np.int64)))
    (X_tr, y_tr), (X_va, y_va) = out
    return X_tr, X_va, y_tr, y_va, list(SHAPES)


def to_hwc(a: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) for one channel, (H, W, 3) for colour: unambiguous for image_grid."""
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


class SmallCNN(nn.Module):
    """[conv k×k (same padding) → activation → 2×2 pool] per layer, then dropout → linear."""

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        channels: list[int],
        kernel_size: int,
        pooling: Literal["max", "avg"],
        activation: Activation,
        dropout: float,
        n_classes: int,
    ) -> None:
        super().__init__()
        blocks: OrderedDict[str, nn.Module] = OrderedDict()
        c_in, size = in_channels, image_size
        for i, c in enumerate(channels, start=1):
            blocks[f"conv{i}"] = nn.Conv2d(c_in, c, kernel_size, padding=kernel_size // 2)
            blocks[f"act{i}"] = ACTIVATIONS[activation]()
            if size >= 2:  # (B, c, size, size) -> (B, c, size/2, size/2)
                blocks[f"pool{i}"] = nn.MaxPool2d(2) if pooling == "max" else nn.AvgPool2d(2)
                size //= 2
            c_in = c
        self.features = nn.Sequential(blocks)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(c_in * size * size, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, n_classes)
        return self.out(self.drop(self.features(x).flatten(1)))

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The maps after each convolution's activation (before pooling), one (C, H, W) each."""
        maps = []
        for name, layer in self.features.named_children():
            x = layer(x)
            if name.startswith("act"):
                maps.append(x[0])
        return maps


def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    torch.manual_seed(p.seed)
    device = torch.device(ctx.device)
    X_tr, X_va, y_tr, y_va, class_names = load_images(p)
    Xtr = torch.tensor(X_tr, dtype=torch.float32, device=device)
    Xva = torch.tensor(X_va, dtype=torch.float32, device=device)
    ytr = torch.tensor(y_tr, dtype=torch.long, device=device)
    yva = torch.tensor(y_va, dtype=torch.long, device=device)

    model = SmallCNN(
        X_tr.shape[1],
        X_tr.shape[2],
        list(p.channels),
        p.kernel_size,
        p.pooling,
        p.activation,
        p.dropout,
        len(class_names),
    ).to(device)
    optimizer = make_optimizer(p.optimizer, model.parameters(), p.lr)
    probe = Xva[p.probe_index % len(Xva)][None]  # (1, C, H, W)
    probe_class = class_names[int(yva[p.probe_index % len(Xva)])]
    side = X_tr.shape[2]
    emit(
        sink,
        "probe.png",
        image_grid([to_hwc(probe[0].cpu().numpy())], 1, scale=128 // side),
        view="image",
        meta={
            "title": f"probe image (class {probe_class})",
            "title_zh": f"探针图像（类别 {probe_class}）",
        },
    )

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(Xtr[idx]), ytr[idx])

    def evaluate() -> dict[str, float]:
        out = model(Xva)
        return {
            "val/loss": float(F.cross_entropy(out, yva)),
            "val/accuracy": float((out.argmax(1) == yva).float().mean()),
        }

    def draw(epoch: int | None, step: int) -> None:
        tag, when = epoch_tag(epoch)
        when_zh = epoch_tag_zh(epoch)
        # first-layer kernels (C_out, C_in, k, k), each stretched to [0, 1]: the patterns sought
        conv1 = model.features[0]
        assert isinstance(conv1, nn.Conv2d)
        kernels = [to_hwc(k.cpu().numpy()) for k in conv1.weight.detach()]
        emit(
            sink,
            f"filters/{tag}.png",
            image_grid(kernels, min(8, len(kernels)), scale=16, normalize=True),
            view="image",
            step=step,
            meta={
                "title": f"conv1 kernels, {when}",
                "title_zh": f"conv1 的卷积核，{when_zh}",
                "epoch": epoch,
            },
        )
        for i, maps in enumerate(model.feature_maps(probe), start=1):
            tiles = [m.cpu().numpy() for m in maps]
            emit(
                sink,
                f"feature_maps/{tag}/conv{i}.png",
                image_grid(
                    tiles, min(8, len(tiles)), scale=max(2, 64 // maps.shape[-1]), normalize=True
                ),
                view="image",
                step=step,
                meta={
                    "title": f"conv{i} feature maps of the probe image, {when}",
                    "title_zh": f"探针图像在 conv{i} 的特征图，{when_zh}",
                    "epoch": epoch,
                    "layer": f"conv{i}",
                },
            )

    def on_epoch(epoch: int, step: int) -> None:
        if epoch % p.artifact_every == 0 or epoch == 1:
            draw(epoch, step)

    result = fit(
        model,
        optimizer,
        p,
        len(Xtr),
        batch_loss,
        evaluate,
        sink,
        monitor="val/loss",
        on_epoch=on_epoch,
        device=device,
    )
    with torch.no_grad():
        final = evaluate()
        draw(None, result.steps)
        pred = model(Xva).argmax(1).cpu().numpy()
        emit(
            sink,
            "confusion.json",
            confusion_artifact(
                y_va, pred, class_names, "validation confusion matrix", title_zh="验证集混淆矩阵"
            ),
            view="confusion",
            step=result.steps,
        )
        wrong = np.flatnonzero(pred != y_va)[:32]
        if len(wrong):
            arrows = [f"{y_va[i]}→{pred[i]}" for i in wrong]  # true→predicted
            emit(
                sink,
                "mistakes.png",
                image_grid([to_hwc(X_va[i]) for i in wrong], 8, scale=64 // side),
                view="image",
                step=result.steps,
                meta={
                    "title": "misclassified validation images",
                    "title_zh": "分错的验证集图像",
                    "captions": arrows,
                    "captions_zh": arrows,
                    "cols": 8,  # of the grid: each caption sits under its tile
                },
            )
    return {
        "epochs": result.epochs,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        "n_parameters": sum(q.numel() for q in model.parameters()),
        **{k.replace("/", "_"): v for k, v in final.items()},
    }


SPEC = KindSpec(
    name="lab.cnn",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Convolutional network",
    description="Convolution and pooling layers on 8×8 digits; the learned kernels and the "
    "feature maps of a chosen image over training.",
)
