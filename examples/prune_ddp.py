"""Pattern-prune a CNN on your own images with DistributedDataParallel, under torchrun.

    torchrun --nproc-per-node N examples/prune_ddp.py --data DIR --out OUT [--resume]

``DIR`` is laid out like torchvision's ImageFolder: ``DIR/train/<class>/*.png|jpg`` and
``DIR/val/<class>/*.png|jpg`` (one folder per class, the same class names in both).
Every rank reads its shard of the images (``DistributedSampler``); the backend is nccl
when CUDA is there (one GPU per rank, ``LOCAL_RANK``), gloo on CPUs. Rank 0 prints the
report, writes ``OUT/pruned.pt`` (state dict), ``OUT/report.txt``, ``OUT/patterns.png``
and the checkpoint ``OUT/checkpoint/prune.ckpt`` at every epoch end; ``--resume``
continues a run that died from that checkpoint. Without torchrun it runs in one process.

``--synthetic`` replaces the folder by random images of two classes (the tests run it
that way). The model is a small VGG-style net; put your own in ``build_model``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

import patdnn
from patdnn.pruning import train_dense

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff"}


class ImageFolder(Dataset):
    """``root/<class>/<image>`` as (C, H, W) float tensors in [0, 1], resized to ``size``
    (torchvision.datasets.ImageFolder's layout, without needing torchvision)."""

    def __init__(self, root: Path, size: int, classes: list[str] | None = None) -> None:
        if not root.is_dir():
            sys.exit(f"prune_ddp: error: {root}: no such directory")
        self.classes = classes or sorted(p.name for p in root.iterdir() if p.is_dir())
        self.size = size
        self.items = [
            (path, label)
            for label, name in enumerate(self.classes)
            for path in sorted((root / name).glob("*"))
            if path.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not self.items:
            sys.exit(f"prune_ddp: error: {root}: no images in class folders")

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.items[i]
        with Image.open(path) as img:
            img = img.convert("RGB").resize((self.size, self.size))
            x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return x, label


def synthetic(n: int, size: int, seed: int) -> TensorDataset:
    """Two classes of random RGB images: class 1 is brighter in its top half."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 3, size, size, generator=g)
    x[:, :, : size // 2] += 0.5 * y[:, None, None, None]
    return TensorDataset(x, y)


def build_model(num_classes: int) -> nn.Module:
    """conv 3->16, conv 16->32, pool, conv 32->32, conv 32->64, global pool, linear."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
            self.conv4 = nn.Conv2d(32, 64, 3, padding=1)
            self.fc = nn.Linear(64, num_classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = F.relu(self.conv1(x))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = F.relu(self.conv3(x))
            x = F.relu(self.conv4(x))
            return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

    return Net()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, help="ImageFolder root with train/ and val/")
    ap.add_argument("--synthetic", action="store_true", help="random images instead of --data")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=32, help="images are resized to SIZE x SIZE")
    ap.add_argument("--batch-size", type=int, default=32, help="per rank")
    ap.add_argument("--dense-epochs", type=int, default=10, help="0: skip dense training")
    ap.add_argument("--admm-epochs", type=int, default=10)
    ap.add_argument("--retrain-epochs", type=int, default=5)
    ap.add_argument("--patterns", type=int, default=8)
    ap.add_argument("--connectivity", type=float, default=3.6)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    args = ap.parse_args(argv)
    if args.synthetic == (args.data is not None):
        ap.error("give exactly one of --data DIR and --synthetic")

    distributed = "WORLD_SIZE" in os.environ
    device = torch.device("cpu")
    if distributed:
        if torch.cuda.is_available():
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    main_rank = not distributed or dist.get_rank() == 0

    if args.synthetic:
        train_set, val_set = synthetic(256, args.size, 0), synthetic(64, args.size, 1)
        classes = ["dark", "bright"]
    else:
        train_folder = ImageFolder(args.data / "train", args.size)
        classes = train_folder.classes
        train_set, val_set = train_folder, ImageFolder(args.data / "val", args.size, classes)
    train_sampler = DistributedSampler(train_set, seed=args.seed) if distributed else None
    val_sampler = DistributedSampler(val_set, shuffle=False) if distributed else None
    train = DataLoader(train_set, args.batch_size, sampler=train_sampler,
                       shuffle=train_sampler is None)  # fmt: skip
    val = DataLoader(val_set, args.batch_size, sampler=val_sampler)

    torch.manual_seed(args.seed)
    model: nn.Module = build_model(len(classes)).to(device)
    if distributed:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    checkpoint = args.out / "checkpoint"
    if args.dense_epochs and not (args.resume and (checkpoint / "prune.ckpt").exists()):
        train_dense(model, train, args.dense_epochs, seed=args.seed, progress=main_rank)

    result = patdnn.prune(
        model,
        train,
        num_patterns=args.patterns,
        connectivity=args.connectivity,
        admm_epochs=args.admm_epochs,
        retrain_epochs=args.retrain_epochs,
        lr=args.lr,
        val_loader=val,
        seed=args.seed,
        progress=main_rank,
        checkpoint_dir=checkpoint,
        resume=args.resume,
    )
    if main_rank:
        args.out.mkdir(parents=True, exist_ok=True)
        torch.save(result.model.state_dict(), args.out / "pruned.pt")
        (args.out / "report.txt").write_text(result.report.table() + "\n")
        result.report.save_figure(args.out / "patterns.png")
        print(result.report.table())
        print(f"wrote {args.out / 'pruned.pt'}, {args.out / 'report.txt'}, "
              f"{args.out / 'patterns.png'}")  # fmt: skip
    if distributed:
        # DDP holds the process group: drop it so that the group ends here, not in
        # interpreter finalization, and wait for rank 0's files before any rank leaves
        del model, result
        dist.barrier()
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
