"""ieee_float32: TF32 is off for float32 CUDA inputs inside the block, and restored after."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from yt8m.features.cuda_float32 import ieee_float32


@pytest.fixture()
def tf32_allowed():
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    yield
    torch.backends.cudnn.allow_tf32 = before


def test_float32_cuda_input_turns_tf32_off_and_restores_it(tf32_allowed) -> None:
    # A stand-in for a CUDA tensor: the check reads only is_cuda and dtype, and the cuDNN
    # flag can be set on any PyTorch build.
    fake_cuda = SimpleNamespace(is_cuda=True, dtype=torch.float32)
    with ieee_float32(fake_cuda):
        assert torch.backends.cudnn.allow_tf32 is False
    assert torch.backends.cudnn.allow_tf32 is True
    with pytest.raises(RuntimeError), ieee_float32(fake_cuda):
        raise RuntimeError("the flag is restored on errors too")
    assert torch.backends.cudnn.allow_tf32 is True


@pytest.mark.parametrize("x", [torch.zeros(1), SimpleNamespace(is_cuda=True, dtype=torch.float16)])
def test_other_inputs_leave_the_setting_alone(tf32_allowed, x) -> None:
    with ieee_float32(x):
        assert torch.backends.cudnn.allow_tf32 is True


def test_overlapping_blocks_in_two_threads_keep_it_off_until_both_end(tf32_allowed) -> None:
    import threading

    fake_cuda = SimpleNamespace(is_cuda=True, dtype=torch.float32)
    entered, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def other() -> None:
        with ieee_float32(fake_cuda):
            entered.set()
            release.wait(5)
            seen.append(torch.backends.cudnn.allow_tf32)

    thread = threading.Thread(target=other)
    with ieee_float32(fake_cuda):
        thread.start()
        assert entered.wait(5)
    # This thread's block has ended; the other's has not: still off for it.
    assert torch.backends.cudnn.allow_tf32 is False
    release.set()
    thread.join(5)
    assert seen == [False]
    assert torch.backends.cudnn.allow_tf32 is True


@pytest.mark.parametrize("start", [True, False])
def test_nested_blocks_restore_the_setting_they_found(start) -> None:
    fake_cuda = SimpleNamespace(is_cuda=True, dtype=torch.float32)
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = start
    try:
        with ieee_float32(fake_cuda):
            with ieee_float32(fake_cuda):
                assert torch.backends.cudnn.allow_tf32 is False
            assert torch.backends.cudnn.allow_tf32 is False  # the outer block is still open
        assert torch.backends.cudnn.allow_tf32 is start
    finally:
        torch.backends.cudnn.allow_tf32 = before
