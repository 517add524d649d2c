import math
import pytest
import torch

from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams
from bohb_das.relaxations import RELAXATIONS
from bohb_das.relaxations.sparse import max_radius, sparsemax, sparsestmax
from bohb_das.rng import TrialStreams


def relaxation(name: str, **settings):
    return RELAXATIONS[name](HParams.from_mapping({"relaxation": name, **settings}))


def logits(rows: int = 8, k: int = 4) -> torch.Tensor:
    return torch.randn(rows, 3, k, dtype=torch.float64)


@pytest.mark.parametrize("name", list(RELAXATIONS))
@pytest.mark.parametrize("progress", [0.0, 0.5, 1.0])
def test_weights_lie_on_the_simplex_except_sigmoid_and_identity(name, progress):
    alpha = logits()
    noise = TrialStreams(range(8), "noise")
    w = relaxation(name)(alpha, progress, noise)
    assert w.shape == alpha.shape
    if relaxation(name).on_simplex:
        assert bool((w >= 0).all()) and torch.allclose(w.sum(-1), torch.ones(8, 3, dtype=torch.float64))
    else:
        assert torch.allclose(w, torch.sigmoid(alpha) if name == "sigmoid" else alpha)


@pytest.mark.parametrize("name", list(RELAXATIONS))
def test_every_relaxation_keeps_the_argmax_of_alpha(name):
    alpha = logits()
    w = relaxation(name)(alpha, 1.0, None)  # the one-shot supernet's weights
    assert torch.equal(w.argmax(-1), alpha.argmax(-1))


def test_sparsemax_matches_a_hand_computed_projection():
    w = sparsemax(torch.tensor([0.5, 0.2, -1.0], dtype=torch.float64))
    assert torch.allclose(w, torch.tensor([0.65, 0.35, 0.0], dtype=torch.float64))


def test_sparsemax_gradient_matches_finite_differences():
    z = (0.5 * logits()).requires_grad_()
    assert (sparsemax(z.detach()) == 0).any()  # the test covers the clipped coordinates too
    assert torch.autograd.gradcheck(sparsemax, (z,))


def test_sparsestmax_gradient_matches_finite_differences_where_the_ball_is_active():
    z = (0.5 * logits()).requires_grad_()
    radius = 0.5
    pushed = ((sparsemax(z.detach()) - 0.25) ** 2).sum(-1).sqrt() < radius
    assert pushed.any() and (~pushed).any()  # both branches are checked
    assert torch.autograd.gradcheck(lambda a: sparsestmax(a, radius), (z,))


def test_sparsestmax_is_sparsemax_at_radius_zero_and_one_hot_at_full_radius():
    z = 0.3 * logits(k=5)
    assert torch.allclose(sparsestmax(z, 0.0), sparsemax(z))
    w = sparsestmax(z, max_radius(5))
    assert torch.allclose(w, torch.nn.functional.one_hot(z.argmax(-1), 5).to(w.dtype), atol=1e-12)
    middle = sparsestmax(z, 0.5)  # on the simplex, outside the ball
    assert torch.allclose(middle.sum(-1), torch.ones(8, 3, dtype=torch.float64))
    assert bool((((middle - 0.2) ** 2).sum(-1).sqrt() >= 0.5 - 1e-9).all())


def test_sparsestmax_radius_follows_its_ramp():
    z = 0.3 * logits()
    relax = relaxation("sparsestmax", sparsestmax_ramp=0.5)
    assert torch.allclose(relax(z, 0.0), sparsemax(z))
    assert torch.equal(relax(z, 0.5).max(-1).values, torch.ones(8, 3, dtype=torch.float64))


def test_sparsestmax_absolute_radius_is_the_progress_itself():
    """Trilevel NAS's reading: r = progress (over the ramp), whatever the number of candidates, so an
    edge of 2 candidates (vertex at 0.707) is one-hot from 71 % of the search on, one of 5 (0.894) later."""
    z = 0.3 * logits(k=5)
    relative, absolute = relaxation("sparsestmax"), relaxation("sparsestmax", sparsestmax_radius="absolute")
    for progress in (0.0, 0.3, 0.6, 0.85, 1.0):
        assert torch.allclose(absolute(z, progress), sparsestmax(z, progress))
        assert torch.allclose(relative(z, progress), sparsestmax(z, progress * max_radius(5)))
    pair = 0.3 * logits(k=2)
    assert not torch.equal(absolute(pair, 0.7).max(-1).values, torch.ones(8, 3, dtype=torch.float64))
    assert torch.equal(absolute(pair, 0.72).max(-1).values, torch.ones(8, 3, dtype=torch.float64))
    halved = relaxation("sparsestmax", sparsestmax_radius="absolute", sparsestmax_ramp=0.5)
    assert torch.allclose(halved(z, 0.25), sparsestmax(z, 0.5))


def test_a_choice_setting_takes_its_names_only_and_is_recorded_only_off_its_default():
    assert HParams.from_mapping({"sparsestmax_radius": "relative"}).to_dict() == HParams().to_dict()
    assert HParams.from_mapping({"sparsestmax_radius": "absolute"}).to_dict()["sparsestmax_radius"] == "absolute"
    with pytest.raises(ConfigError, match="sparsestmax_radius must be one of relative, absolute, got 'sideways'"):
        HParams.from_mapping({"sparsestmax_radius": "sideways"})


def test_gumbel_is_one_hot_forward_with_a_soft_gradient_and_anneals():
    alpha = logits().requires_grad_()
    relax = relaxation("gumbel", gumbel_tau_max=10.0, gumbel_tau_min=0.1)
    w = relax(alpha, 0.0, TrialStreams(range(8), "noise"))
    assert torch.equal(w.max(-1).values, torch.ones(8, 3, dtype=torch.float64))
    (grad,) = torch.autograd.grad((w * torch.randn_like(w)).sum(), [alpha])
    assert float(grad.abs().max()) > 0  # straight-through: the softmax's gradient
    assert relax.temperature(0.0) == 10.0 and relax.temperature(1.0) == pytest.approx(0.1)
    assert relax.temperature(0.5) == pytest.approx(5.05)  # linear, as in GDAS


def test_zero_one_loss_pushes_sigmoid_weights_away_from_one_half():
    alpha = torch.tensor([[[0.3, -0.3]]], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(relaxation("sigmoid").penalty(alpha).sum(), [alpha])
    assert grad[0, 0, 0] < 0 < grad[0, 0, 1]
    assert float(relaxation("softmax").penalty(alpha).abs().sum()) == 0


def test_clearer_entropy_term_is_the_weighted_mean_entropy_of_the_edges():
    alpha = torch.log(torch.tensor([[[1.0, 3.0], [1.0, 1.0]]], dtype=torch.float64)).requires_grad_()
    entropies = [-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)), math.log(2)]  # w = (1/4, 3/4) and (1/2, 1/2)
    relax = RELAXATIONS["softmax"](HParams.from_mapping({"entropy_weight": 0.01}))
    assert float(relax.penalty(alpha.detach())) == pytest.approx(0.01 * sum(entropies) / 2, abs=1e-15)
    (grad,) = torch.autograd.grad(relax.penalty(alpha).sum(), [alpha])
    assert grad[0, 0, 1] < 0 < grad[0, 0, 0]  # lowering the loss moves the first edge towards its vertex
    assert float(grad[0, 1].abs().max()) < 1e-15  # the centre is a maximum of the entropy: no direction
