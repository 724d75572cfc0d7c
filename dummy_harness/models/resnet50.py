"""resnet50: the ResNet-50 v1.5 topology in plain torch, trained on its synthetic images, 224x224x3 NCHW float32.

Sizes scale the width (and, for `small`, the depth and the stem) so that the latency-bound scenarios stay VALID
on a 2-core CPU; `full` is the real ResNet-50 v1.5 (25.6 M parameters).
Data: each image shows the three colours of its class (one of 1000 sets of three of PALETTE's 20 colours) in
smooth random regions, a smaller region of a fourth, distracting colour, and noise. The stand-in is fitted to
that structure: its trunk and a 20-way colour head are trained (models/fitting.py) to tell how much of each
colour an image holds, and the 1000-way classifier is the sum of the head's rows for a class's three colours.
So it decides most images by a wide margin and some by a narrow one (where the distractor covers about as
much as a class colour), as a trained ResNet-50 does; sizes without a fit (FIT_STEPS) keep random weights.
Response: one float32 per sample, the predicted class index (as the reference implementation writes it).
"""
from __future__ import annotations

import itertools
from typing import Dict, List, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..accuracy import AccuracyReport
from .base import MIN_MARGIN, Arrays, Benchmark
from .fitting import TRAINING_INDEX, cached_fit, default_init, fit_key

# size -> (stem width, bottleneck blocks per stage, patchify stem stride or 0 for the 7x7 conv + max pool);
# full ResNet-50 is (64, (3, 4, 6, 3), 0). `small` patchifies: at width 4 the 7x7 stem and its max pool were
# about half of a sample's time (bench/RESULTS.md), and that time is what a Server query waits on behind another.
SIZES: Dict[str, Tuple[int, Tuple[int, ...], int]] = {
    "small": (4, (1, 1, 1, 1), 4),
    "medium": (8, (3, 4, 6, 3), 0),
    "full": (64, (3, 4, 6, 3), 0),
}
# Training steps of each size's fit; a size without an entry keeps seeded random weights.
FIT_STEPS: Dict[str, int] = {"small": 600, "medium": 600}
NUM_CLASSES = 1000
IMAGE = 224
WEIGHT_SEED = 50
CALIBRATION_ATTEMPT = 1000   # batch-norm images of the unfitted sizes: an attempt number the dataset never reaches
# The 20 colours (normalised RGB): the corners and edge midpoints of a cube, so no two are closer than 1.2.
PALETTE = 1.2 * np.array([p for p in itertools.product((-1.0, 0.0, 1.0), repeat=3) if p.count(0.0) <= 1],
                         np.float32)
# Class c shows colours CLASSES[c]: 1000 of the 1140 sets of three, in a fixed order.
_SETS = np.array(list(itertools.combinations(range(len(PALETTE)), 3)))
CLASSES = _SETS[np.random.default_rng(NUM_CLASSES).permutation(len(_SETS))[:NUM_CLASSES]]
NOISE = 0.4
DISTRACTOR_BIAS = 0.5           # its field is lowered by this (the fields' spread is 1), so it covers less
# The fit: training images, batch, crop (a trained trunk reads colour regions at any position, and a 96-pixel
# crop costs a fifth of a whole image), learning rate; changing any of these changes the cache key.
FIT = dict(images=1024, batch=32, crop=96, lr=5e-3, weight_decay=1e-4, warmup=0.15, bn_images=256)


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck: the stride sits on the 3x3 convolution."""

    def __init__(self, cin: int, width: int, stride: int, groups: int = 1, cout: int = 0):
        super().__init__()
        cout = cout or width * 4      # ResNeXt passes its own output width and groups
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)

    def fold_batchnorm(self) -> None:
        for conv, bn in (("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")):
            setattr(self, conv, fuse_conv_bn_eval(getattr(self, conv), getattr(self, bn)))
            setattr(self, bn, nn.Identity())
        if self.downsample is not None:
            self.downsample = fuse_conv_bn_eval(self.downsample[0], self.downsample[1])


class ResNet50Net(nn.Module):
    """ResNet-50 v1.5 (groups=1) or ResNeXt (groups=32, inner_factor=2) trunk with a classifier."""

    def __init__(self, width: int, blocks: Tuple[int, ...], groups: int = 1, inner_factor: int = 1,
                 patchify: int = 0):
        super().__init__()
        self.stem_stride = patchify or 4
        if patchify:   # a PxP stride-P stem (as ConvNeXt): far cheaper than the 7x7 conv + max pool
            self.conv1, self.bn1 = nn.Conv2d(3, width, patchify, patchify, bias=False), nn.BatchNorm2d(width)
            self.maxpool = nn.Identity()
        else:
            self.conv1, self.bn1 = nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.relu = nn.ReLU(inplace=True)
        layers, cin, self.stage_ends, self.stage_channels = [], width, [], []
        for stage, count in enumerate(blocks):
            inner, cout = width * inner_factor * 2 ** stage, width * 4 * 2 ** stage
            for j in range(count):
                layers.append(Bottleneck(cin, inner, 2 if (j == 0 and stage > 0) else 1, groups, cout))
                cin = cout
            self.stage_ends.append(len(layers) - 1)
            self.stage_channels.append(cout)
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, NUM_CLASSES)

    def stages(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Outputs of the four stages (strides stem_stride x 1, 2, 4, 8), for detection necks."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.stage_ends:
                outs.append(x)
        return outs

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.layers(x), 1), 1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The response itself: the class index as float32, computed where the model runs.
        return self.logits(x).argmax(dim=1).to(torch.float32)


def _upsample_matrix(src: int, dst: int) -> np.ndarray:
    """Bilinear interpolation weights (dst x src), align_corners=False."""
    pos = (np.arange(dst) + 0.5) * src / dst - 0.5
    lo = np.clip(np.floor(pos).astype(int), 0, src - 1)
    hi = np.clip(lo + 1, 0, src - 1)
    frac = np.clip(pos - np.floor(pos), 0, 1)
    m = np.zeros((dst, src), dtype=np.float32)
    m[np.arange(dst), lo] += 1 - frac
    m[np.arange(dst), hi] += frac
    return m


_UP = _upsample_matrix(7, IMAGE)


def scene(seed: int, index: int, attempt: int = 0) -> Tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """A normalised 3x224x224 image, its class, the four colours it shows (the class's three, then a
    distractor), and which of them each pixel shows."""
    rng = np.random.default_rng([seed, index, attempt])
    label = int(rng.integers(NUM_CLASSES))
    others = np.setdiff1d(np.arange(len(PALETTE)), CLASSES[label])
    colours = np.append(CLASSES[label], rng.choice(others))
    fields = _UP @ rng.standard_normal((4, 7, 7), dtype=np.float32) @ _UP.T      # (4, 224, 224), smooth
    fields[3] -= DISTRACTOR_BIAS
    region = fields.argmax(axis=0).astype(np.uint8)
    image = np.take(PALETTE[colours].T, region, axis=1)                          # (3, 224, 224)
    # Noise at 112x112, each value on a 2x2 block: a quarter of the draws of full-resolution noise.
    noise = rng.standard_normal((3, IMAGE // 2, IMAGE // 2), dtype=np.float32)
    noise *= NOISE
    image += noise.repeat(2, axis=1).repeat(2, axis=2)
    return image, label, colours, region


def synthetic_image(seed: int, index: int, attempt: int = 0) -> np.ndarray:
    return scene(seed, index, attempt)[0]


def init_weights(model: nn.Module, seed: int) -> None:
    """Seeded He-normal convolutions and normal linear layers, zero biases."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
                m.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0.0, (1.0 / m.in_features) ** 0.5, generator=gen)
                m.bias.zero_()


def measure_batchnorm(model: nn.Module, batches) -> None:
    """Batch-norm statistics: the plain average over `batches` (each a tuple of inputs to `model`)."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in norms:
            m.momentum = None
            m.reset_running_stats()
        model.train()
        for batch in batches:
            model(*batch)
        model.eval()


def fold_batchnorm(model: "ResNet50Net") -> "ResNet50Net":
    model.conv1 = fuse_conv_bn_eval(model.conv1.eval(), model.bn1.eval())
    model.bn1 = nn.Identity()
    for block in model.layers:
        block.eval()
        block.fold_batchnorm()
    return model.eval()


def build_trunk(model: ResNet50Net, calibration: torch.Tensor, seed: int) -> ResNet50Net:
    """Unfitted: seeded weights; batch-norm statistics from `calibration`; the classifier centred on the mean
    feature so predictions spread over the classes; batch norm folded into the convs."""
    init_weights(model, seed)
    measure_batchnorm(_Features(model), [(calibration,)])
    with torch.no_grad():
        mean_feature = model.features(calibration).mean(dim=0)
        model.fc.bias.copy_(-model.fc.weight @ mean_feature)
    return fold_batchnorm(model)


class _Features(nn.Module):
    def __init__(self, net: ResNet50Net):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


def fit_classifier(model: ResNet50Net, steps: int, seed: int) -> ResNet50Net:
    """Train `model` (batch norm unfolded) and a colour head to tell each palette colour's share of an image
    (binary cross-entropy against the shares), then make the classifier the sum of the head's rows for each
    class's colours; batch norm measured on whole images and folded.

    Training split: images TRAINING_INDEX + i of the generator with `seed`; each step a batch of random crops."""
    n, batch, crop = FIT["images"], FIT["batch"], FIT["crop"]
    images = np.empty((n, 3, IMAGE, IMAGE), np.float16)       # half the memory; the rounding does not matter here
    regions = np.empty((n, IMAGE, IMAGE), np.uint8)
    colours = np.empty((n, 4), np.int64)
    for i in range(n):
        images[i], _, colours[i], regions[i] = scene(seed, TRAINING_INDEX + i)
    images_t, regions_t, colours_t = torch.from_numpy(images), torch.from_numpy(regions), torch.from_numpy(colours)

    head = nn.Linear(model.fc.in_features, len(PALETTE))
    default_init(model, seed)
    default_init(head, seed + 1)
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=FIT["lr"], weight_decay=FIT["weight_decay"])
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=FIT["lr"], total_steps=steps,
                                                   pct_start=FIT["warmup"])
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, n, (batch,), generator=gen)
        y, x = torch.randint(0, IMAGE - crop + 1, (2,), generator=gen).tolist()
        inputs = images_t[idx, :, y:y + crop, x:x + crop].float()
        share = nn.functional.one_hot(regions_t[idx, y:y + crop, x:x + crop].long(), 4).float().mean(dim=(1, 2))
        target = torch.zeros(batch, len(PALETTE)).scatter_(1, colours_t[idx], share)
        loss = nn.functional.binary_cross_entropy_with_logits(head(model.features(inputs)), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()

    bn = FIT["bn_images"]
    measure_batchnorm(_Features(model), [(images_t[i:i + batch].float(),) for i in range(0, bn, batch)])
    member = torch.zeros(NUM_CLASSES, len(PALETTE)).scatter_(1, torch.from_numpy(CLASSES), 1.0)
    with torch.no_grad():
        model.fc.weight.copy_(member @ head.weight)
        model.fc.bias.copy_(member @ head.bias)
    return fold_batchnorm(model)


class ResNet50(Benchmark):
    input_names = ("inputs",)

    def build_model(self, cache_dir: str = "") -> nn.Module:
        width, blocks, patchify = SIZES[self.size]
        steps = FIT_STEPS.get(self.size)
        if steps is None:
            calibration = torch.from_numpy(np.stack([synthetic_image(0, i, CALIBRATION_ATTEMPT) for i in range(16)]))
            return build_trunk(ResNet50Net(width, blocks, patchify=patchify), calibration, WEIGHT_SEED)

        def skeleton() -> nn.Module:
            return fold_batchnorm(ResNet50Net(width, blocks, patchify=patchify))

        def fit() -> nn.Module:
            return fit_classifier(ResNet50Net(width, blocks, patchify=patchify), steps, WEIGHT_SEED)

        key = fit_key("resnet50", self.size, {"steps": steps, "seed": WEIGHT_SEED, **FIT})
        return cached_fit(key, skeleton, fit, cache_dir, what=f"resnet50 {self.size}")

    def generate(self, model: nn.Module, count: int, seed: int) -> Arrays:
        return self.generate_range(model, seed, 0, count)

    def generate_range(self, model: nn.Module, seed: int, start: int, stop: int) -> Arrays:
        """Per sample the first attempt whose class the fp32 stand-in decides by a clear margin, and that class; the
        image itself is rebuilt on load (224x224x3 float32 of 50000 images would be 30 GB)."""
        indices = np.arange(start, stop)
        attempts = np.zeros(len(indices), dtype=np.int64)
        labels = np.zeros(len(indices), dtype=np.int64)
        pending = np.arange(len(indices))
        with torch.inference_mode():
            for _ in range(16):
                if pending.size == 0:
                    break
                retry = []
                for at in range(0, pending.size, 32):
                    chunk = pending[at:at + 32]
                    images = np.stack([synthetic_image(seed, int(indices[k]), int(attempts[k])) for k in chunk])
                    logits = model.logits(torch.from_numpy(images))
                    top2 = logits.topk(2, dim=1).values
                    margin = ((top2[:, 0] - top2[:, 1]) / logits.std(dim=1)).numpy()
                    labels[chunk] = logits.argmax(dim=1).numpy()
                    retry.extend(chunk[margin < MIN_MARGIN].tolist())
                pending = np.asarray(retry, dtype=np.int64)
                attempts[pending] += 1
        if pending.size:
            raise RuntimeError(f"could not generate unambiguous images for samples {indices[pending[:5]].tolist()}")
        return {"seeds": np.full(len(indices), seed, np.int64), "attempts": attempts, "labels": labels}

    def input_shapes(self, dataset: Arrays):
        return {"inputs": ((3, IMAGE, IMAGE), np.dtype(np.float32))}

    def load_rows(self, dataset: Arrays, indices: np.ndarray) -> Arrays:
        """Each image rebuilt from its seed, index and the attempt the dataset kept."""
        return {"inputs": np.stack([synthetic_image(int(dataset["seeds"][i]), int(i), int(dataset["attempts"][i]))
                                    for i in indices])}

    def calibration_rows(self, seed: int, indices: np.ndarray) -> Arrays:
        return {"inputs": np.stack([synthetic_image(seed, int(i)) for i in indices])}

    def write_extras(self, folder: str, arrays: Arrays) -> None:
        # The official accuracy-imagenet.py reads `<file> <label>` per line, line number = sample index.
        with open(f"{folder}/val_map.txt", "w") as f:
            for i, label in enumerate(arrays["labels"]):
                f.write(f"synthetic_{i:08d}.JPEG {int(label)}\n")

    def evaluate(self, responses: Dict[int, np.ndarray], arrays: Arrays) -> AccuracyReport:
        labels = arrays["labels"]
        good = sum(1 for idx, data in responses.items() if int(data[0]) == int(labels[idx]))
        total = len(responses)
        accuracy = 100.0 * good / total if total else 0.0
        return AccuracyReport(
            metric="top-1 accuracy", value=accuracy, reference=100.0, target_fraction=self.spec.accuracy_target,
            official_lines=[f"accuracy={accuracy:.3f}%, good={good}, total={total}"],
            details={"good": good, "total": total})
