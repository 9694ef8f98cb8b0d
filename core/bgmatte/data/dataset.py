"""The stage-1 sample stream as a torch Dataset: sample i is a pure function of (seed, i).

The data position of a training run is therefore one integer (the next sample index), and a
resumed run draws exactly the samples an uninterrupted run would have drawn, whatever the number
of loader workers.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from bgmatte.data.bank import Bank, open_bank
from bgmatte.data.compose import training_sample
from bgmatte.errors import InputError
from bgmatte.priors import gain_match


def open_banks(paths: Sequence[str | Path]) -> list[Bank]:
    """Open every bank folder; at least one element and one plate must exist among them.

    Raises:
        InputError: For a bad bank folder, or when the banks hold no elements or no plates.
    """
    banks = [open_bank(Path(path)) for path in paths]
    if not any(bank.elements for bank in banks):
        raise InputError("--data", "the data banks hold no elements")
    if not any(bank.plates for bank in banks):
        raise InputError("--data", "the data banks hold no plates")
    return banks


class SampleDataset(Dataset):
    """Training samples composed on the fly: ``dataset[i]`` is ``training_sample(banks, seed, i, crop)``."""

    def __init__(self, banks: list[Bank], seed: int, crop: int) -> None:
        self.banks = banks
        self.seed = seed
        self.crop = crop

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return training_sample(self.banks, self.seed, int(index), self.crop)


class _FromPosition(Sampler[int]):
    """Sample indices position, position + 1, ... (the stream from a data position on)."""

    def __init__(self, position: int) -> None:
        self.position = position

    def __iter__(self) -> Iterator[int]:
        index = self.position
        while True:
            yield index
            index += 1


def collate(samples: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack samples into NCHW float32 tensors: (B, C, H, W) for images, (B, 1, H, W) for maps."""
    batch = {}
    for name in samples[0]:
        stacked = torch.from_numpy(np.stack([sample[name] for sample in samples]).astype(np.float32))
        batch[name] = stacked.unsqueeze(1) if stacked.ndim == 3 else stacked.permute(0, 3, 1, 2).contiguous()
    return batch


def quiet_expected_warnings() -> None:
    """Silence warnings that sample composition triggers by design.

    ``match_gain`` warns when a frame leaves little background to compare; training samples with
    a large subject do that on purpose, and a warning per sample would bury the training log.
    """
    logging.getLogger(gain_match.__name__).setLevel(logging.ERROR)


def _worker_init(_: int) -> None:
    # Each worker composes whole samples on one core; nested thread pools would only contend.
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    quiet_expected_warnings()


def batch_stream(dataset: Dataset, position: int, batch_size: int, workers: int,
                 collate_fn: Callable[[list], dict[str, torch.Tensor]] = collate) -> Iterator[dict[str, torch.Tensor]]:
    """Endless batches of ``batch_size`` consecutive samples starting at sample ``position``."""
    # Workers are spawned, not forked: a fork after torch has started its thread pool can hang.
    loader = DataLoader(dataset, batch_size=batch_size, sampler=_FromPosition(position), num_workers=workers,
                        collate_fn=collate_fn, worker_init_fn=_worker_init if workers else None,
                        prefetch_factor=2 if workers else None,
                        multiprocessing_context="spawn" if workers else None)
    return iter(loader)
