r"""KAR (semantic vectors as input features) on the device: forward and
backward equal the CPU's."""
import pytest
import torch
from cuda_helpers import Run, compose, rec_data

from rlmrec_pyg.nn import KAR, TrainBatch
from rlmrec_pyg.train.loop import train_step

pytestmark = pytest.mark.cuda


def forward_backward(run: Run, device: torch.device):
    r"""The evaluation embeddings, then the gradients of one training
    loss of a fixed batch (the weighted terms, without the L2 term, which
    reaches every parameter anyway), on CPU copies."""
    model = run.model
    z_dict = {nt: z.detach().cpu() for nt, z in model(run.data).items()}
    model.train()
    index = torch.arange(12, device=device)
    batch = TrainBatch(index % 20, index, (index + 7) % 30, run.data,
                       torch.Generator().manual_seed(0))
    model.zero_grad()
    loss, _ = train_step(model, batch, dict(run.weights, reg=0.0))
    loss.backward()
    grads = {name: torch.zeros(0) if p.grad is None else p.grad.cpu()
             for name, p in model.named_parameters()}
    return z_dict, loss.item(), grads


@pytest.mark.parametrize('backbone', ['lightgcn', 'dccf'])
def test_kar_forward_backward_matches_the_cpu(backbone, device, tmp_path):
    # Catches: the semantic vectors left on the CPU (or in another dtype)
    # when added to the device's ID embeddings; the adaptors not in the
    # graph of the loss (mutation tried: KAR.inputs adding
    # `adaptor(...).detach()`: their gradients vanish).
    cfg = compose(tmp_path, backbone, 'base', deterministic=True,
                  extra=['alignment=kar'])
    cpu_run = Run(cfg, rec_data(torch.device('cpu')), torch.device('cpu'))
    dev_run = Run(cfg, rec_data(device), device)
    assert isinstance(dev_run.model.encoder, KAR)
    want_z, want_loss, want_grads = forward_backward(cpu_run,
                                                     torch.device('cpu'))
    got_z, got_loss, got_grads = forward_backward(dev_run, device)
    for nt in want_z:
        torch.testing.assert_close(got_z[nt], want_z[nt], rtol=1e-4,
                                   atol=1e-5)
    assert got_loss == pytest.approx(want_loss, rel=1e-4)
    assert list(got_grads) == list(want_grads)
    for name, grad in want_grads.items():
        torch.testing.assert_close(got_grads[name], grad, rtol=1e-4,
                                   atol=1e-6, msg=name)
    adaptor = [g for name, g in got_grads.items() if '.adaptor.' in name]
    assert len(adaptor) == 8  # two MLPs of two linear layers each
    assert all(g.numel() > 0 and bool(torch.isfinite(g).all())
               and g.abs().sum() > 0 for g in adaptor)
