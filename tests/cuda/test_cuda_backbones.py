r"""Every backbone x {Base, RLMRec-Con, RLMRec-Gen} trains on the device
with the library's loop, and its loss terms step by step equal those of
the same model on the CPU."""
import math

import pytest
import torch
from cuda_helpers import (BACKBONES, SSL_BACKBONES, VARIANTS, Run, compose,
                          rec_data, steps)

pytestmark = pytest.mark.cuda

#: Relative tolerance of the float32 loss terms, CPU against the device.
RTOL = 1e-4


@pytest.mark.parametrize('variant', VARIANTS)
@pytest.mark.parametrize('backbone', BACKBONES)
def test_trains_on_the_device(backbone, variant, device, tmp_path):
    # The paper's settings, random draws included (edge dropout and noise
    # from the device's RNG). Catches: a tensor left on the CPU in a
    # training path (a device mismatch), a term lost (no 'align' / 'ssl'),
    # a parameter the step does not update (mutation tried: the
    # `optimizer.step()` of `train_epoch` removed).
    run = Run(compose(tmp_path, backbone, variant), rec_data(device), device)
    assert {p.device.type for p in run.model.parameters()} == {device.type}
    before = run.state()
    history = steps(run, 3)
    for terms in history:
        assert {'loss', 'rec', 'reg'} <= set(terms)
        assert ('align' in terms) == (variant != 'base')
        assert ('ssl' in terms) == (backbone in SSL_BACKBONES)
        assert all(math.isfinite(v) for v in terms.values()), terms
    after = run.state()
    unchanged = [name for name in before
                 if torch.equal(before[name], after[name])]
    assert unchanged == []


@pytest.mark.parametrize('variant', VARIANTS)
@pytest.mark.parametrize('backbone', BACKBONES)
def test_matches_the_cpu(backbone, variant, device, tmp_path):
    # Without the draws from the device's RNG (NO_DEVICE_RNG), the same
    # model from the same seed gives the same loss terms on the device as
    # on the CPU, step by step. The two runs step in turn, so a draw from
    # the global RNG left in the deterministic setting shows up on the dry
    # run too (mutation tried: SimGCL ignoring eps=0, `self.eps * ...` ->
    # `(self.eps + 0.1) * ...`). On a GPU it catches any device-dependent
    # result: a CPU generator's numbers moved differently, a kernel
    # computing another value.
    cfg = compose(tmp_path, backbone, variant, deterministic=True)
    cpu = Run(cfg, rec_data(torch.device('cpu')), torch.device('cpu'))
    dev = Run(cfg, rec_data(device), device)
    start = dev.state()
    assert all(torch.equal(v, start[k]) for k, v in cpu.state().items())
    for step in range(3):
        want, got = cpu.step(), dev.step()
        assert list(got) == list(want), step
        assert got == pytest.approx(want, rel=RTOL, abs=1e-6), step
