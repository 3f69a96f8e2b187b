"""The numpy encoder must compute what the PyTorch model computes."""

from __future__ import annotations

import numpy as np
import torch

from edgerec.infer import SASRecEncoder
from edgerec.train._sasrec_fit import torch_scorer
from edgerec.train._sasrec_torch import SASRecNet


def random_net(num_items: int = 40, layers: int = 2, heads: int = 2) -> SASRecNet:
    torch.manual_seed(1)
    net = SASRecNet(num_items, 16, 10, layers, heads, 0.0, 0.0)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.3)
        net.item_emb.weight[num_items].zero_()
    return net.eval()


def encoder_of(net: SASRecNet) -> SASRecEncoder:
    table = net.item_table().detach().numpy()
    return SASRecEncoder(net.export_weights(), table, len(net.blocks), net.blocks[0].heads)  # type: ignore[union-attr,arg-type]


def test_numpy_scores_match_torch() -> None:
    net = random_net()
    rng = np.random.default_rng(0)
    histories = [rng.integers(0, 40, size) for size in (1, 3, 10, 14)]
    expected = torch_scorer(net)(histories)  # type: ignore[operator]
    encoder = encoder_of(net)
    actual = encoder.encode(histories) @ encoder.item_embeddings.T
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)


def test_batch_padding_does_not_change_a_user() -> None:
    encoder = encoder_of(random_net())
    short, long = np.array([3, 4]), np.arange(9)
    alone = encoder.encode([short])
    together = encoder.encode([short, long])
    np.testing.assert_allclose(together[0], alone[0], rtol=1e-5, atol=1e-5)


def test_empty_history_gives_zero_vector() -> None:
    encoder = encoder_of(random_net())
    assert not encoder.encode([np.array([], dtype=np.int64)]).any()


def test_torch_scores_an_empty_history_as_the_numpy_encoder_does() -> None:
    net = random_net()
    histories = [np.array([], dtype=np.int64), np.array([5, 6, 7])]
    expected = encoder_of(net).encode(histories) @ net.item_table().detach().numpy().T
    actual = torch_scorer(net)(histories)  # type: ignore[operator]
    assert not actual[0].any()
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)
