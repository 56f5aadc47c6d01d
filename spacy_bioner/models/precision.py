"""bfloat16 autocast only where the hardware runs it.

`inference_bf16` and `training_bf16` pay off on CPUs with native bf16
(AVX512-BF16 or AMX) and on recent GPUs. Elsewhere torch emulates bf16: on an
AVX2 CPU (AMD EPYC, no AVX-512) a 1024x1024 bf16 matrix product ran at 0.9
GFLOP/s against 109 in float32, so a config written for one machine would run
its matrix products about 100x slower on the other. Where bf16 is not native the layers run in
float32 and say so once in the log; the setting stays as configured, so the
same pipeline uses bf16 again on a machine that has it.
"""
from __future__ import annotations

import functools
import logging

import torch

logger = logging.getLogger("spacy_bioner")

_told: set[tuple[str, str]] = set()


@functools.cache
def native_bf16(device_type: str) -> bool:
    """Whether `device_type` ("cpu", "cuda", ...) runs bfloat16 matrix products in hardware.

    device_type (str): A torch device type.
    RETURNS (bool): False only where bf16 is known to be emulated.
    """
    if device_type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device_type == "cpu":
        supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        return True if supported is None else bool(supported())
    return True


def use_bf16(requested: bool, device_type: str, setting: str) -> bool:
    """Whether to autocast to bf16 now: `requested` and native on `device_type`.

    requested (bool): The layer's setting (`inference_bf16` or `training_bf16`).
    device_type (str): The device type of the layer's module.
    setting (str): The setting's name, for the log line.
    RETURNS (bool): Whether to run under bfloat16 autocast.
    """
    if not requested:
        return False
    if native_bf16(device_type):
        return True
    if (device_type, setting) not in _told:
        _told.add((device_type, setting))
        capability = torch.backends.cpu.get_cpu_capability() if device_type == "cpu" else device_type
        logger.warning(
            "%s = true: this %s has no native bfloat16 (%s), where bf16 autocast runs many times slower "
            "than float32; running in float32 instead (set %s = false to silence this)",
            setting, device_type, capability, setting)
    return False
