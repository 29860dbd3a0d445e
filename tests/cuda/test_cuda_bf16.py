r"""RLMRec-Con's and RLMRec-Gen's bf16 autocast on the device: the
projector runs in bfloat16, the alignment loss stays close to the float32
loss, and the gradients are finite."""
import pytest
import torch
from cuda_helpers import Run, compose, rec_data

from rlmrec_pyg.nn import TrainBatch
from rlmrec_pyg.train.loop import train_step

pytestmark = pytest.mark.cuda

#: bfloat16 keeps 8 significant bits (unit roundoff u = 2^-8 = 0.4 %).
#: The semantic rows, the weights and the projector's output (for
#: RLMRec-Gen also the similarity GEMM's inputs) are rounded, the products
#: accumulate in float32 and the softmax runs in float32, so the loss moves
#: by a fraction of u: 2e-4 relative measured on the dry run (CPU
#: autocast). 1 % (2.5 u) leaves room for another GEMM kernel; a loss on
#: the wrong rows or with a group missing is off by tens of percent.
RTOL = 1e-2


def align_step(run: Run, device: torch.device, outputs: list):
    r"""The loss terms of one fixed batch and whether every gradient is
    finite; the projector's output dtypes are appended to
    :obj:`outputs`."""
    projector = run.model.encoder.projector
    hook = projector.register_forward_hook(
        lambda module, args, out: outputs.append(out.dtype))
    index = torch.arange(12, device=device)
    batch = TrainBatch(index % 20, index, (index + 7) % 30, run.data,
                       torch.Generator().manual_seed(0))
    loss, terms = train_step(run.model, batch, run.weights)
    loss.backward()
    hook.remove()
    finite = all(bool(torch.isfinite(p.grad).all())
                 for p in run.model.parameters() if p.grad is not None)
    return {k: v.item() for k, v in terms.items()}, finite


@pytest.mark.parametrize('variant', ['contrastive', 'generative'])
def test_bf16_autocast_close_to_float32(variant, device, tmp_path):
    # Catches: the bf16 flag ignored (mutation tried: `enabled=self.bf16`
    # -> `enabled=False` in the wrappers' `_autocast`: the projector's
    # output is float32), a bf16 result leaking into the float32 loss (a
    # dtype error), a loss far from float32 (e.g., the scores themselves
    # cast to bf16 before the softmax).
    cfgs = [compose(tmp_path, 'lightgcn', variant, deterministic=True,
                    extra=[f'alignment.module.bf16={bf16}'])
            for bf16 in (False, True)]
    dtypes = ([], [])
    (want, _), (got, finite) = [
        align_step(Run(cfg, rec_data(device), device), device, out)
        for cfg, out in zip(cfgs, dtypes)
    ]
    assert set(dtypes[0]) == {torch.float32}
    assert set(dtypes[1]) == {torch.bfloat16}
    assert finite
    assert got['align'] == pytest.approx(want['align'], rel=RTOL)
    # The rest of the step does not run under autocast: the same values.
    assert {k: v for k, v in got.items() if k != 'align'} == pytest.approx(
        {k: v for k, v in want.items() if k != 'align'}, rel=1e-6)
