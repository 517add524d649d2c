import math

import pytest
import torch
import torch.nn.functional as F

from bohb_das.errors import ConfigError
from bohb_das.profiles import BLUR_UNITS, Profile
from bohb_das.problems import PROBLEMS, get_problem
from bohb_das.problems.base import VALIDATION_SIZE
from bohb_das.problems.cosine1d import gaussian_kernel


@pytest.mark.parametrize("name", ["blur", "downsampling"])
def test_adjoint_is_exact(name):
    formation = get_problem(name)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 50, generator=g, dtype=torch.float64)
    v = torch.randn(64, formation.matrix.shape[0], generator=g, dtype=torch.float64)
    lhs = (formation.forward(x) * v).sum()
    rhs = (x * formation.adjoint(v)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("units", BLUR_UNITS)
def test_blur_is_zero_padded_gaussian_convolution(units):
    kernel = gaussian_kernel(units)
    assert kernel.shape == (7,) and math.isclose(float(kernel.sum()), 1.0)
    assert torch.argmax(kernel) == 3 and torch.allclose(kernel, kernel.flip(0))
    x = torch.randn(5, 50, dtype=torch.float64)
    expected = F.conv1d(x[:, None], kernel[None, None], padding=3)[:, 0]
    assert torch.allclose(get_problem("blur", Profile(blur_units=units)).forward(x), expected)


def test_downsampling_keeps_every_fourth_blurred_sample():
    x = torch.randn(3, 50, dtype=torch.float64)
    blurred = get_problem("blur").forward(x)
    down = get_problem("downsampling").forward(x)
    assert down.shape == (3, 13)
    assert torch.allclose(down, blurred[:, ::4])


@pytest.mark.parametrize("name", ["denoise", "denoise2d"])
def test_denoising_measures_the_signal_plus_the_profiles_noise(name):
    problem = get_problem(name, Profile(noise_std=0.2, psnr_peak="one")).to("cpu", torch.float64)
    x, y = problem.validation_set()
    assert problem.measurement_shape == problem.signal_shape and torch.equal(problem.forward(x), x)
    assert torch.equal(problem.adjoint(y), y) and torch.allclose(problem.data_gradient(x, y), x - y)
    assert float((y - x).std()) == pytest.approx(0.2, rel=0.02)
    # the back-projection is the noisy measurement itself: about 10 log10(1 / 0.2^2) = 13.98 dB (the mean
    # of per-signal PSNRs lies a little above: Jensen, most for the 50-sample signals)
    assert problem.backprojection_psnr() == pytest.approx(13.98, abs=0.15)


def test_validation_set_is_fixed_and_shaped():
    formation = get_problem("downsampling")
    x1, y1 = formation.validation_set()
    x2, y2 = formation.validation_set()
    assert x1.shape == (VALIDATION_SIZE, 50) and y1.shape == (VALIDATION_SIZE, 13)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    # same ground truth for every formation, so that numbers are comparable
    assert torch.equal(x1, get_problem("blur").validation_set()[0])
    # measurement noise is at the profile's level
    residual = y1.double() - formation.forward(x1.double())
    assert float(residual.std()) == pytest.approx(formation.noise_std, rel=0.2)


def test_psnr_matches_definition():
    truth = torch.tensor([[0.0, 1.0, 2.0, 3.0]], dtype=torch.float64)
    estimate = truth + torch.tensor([[0.1, -0.1, 0.1, -0.1]], dtype=torch.float64)
    assert math.isclose(float(get_problem("blur", Profile(psnr_peak="range")).psnr(estimate, truth)), 10 * math.log10(9 / 0.01), rel_tol=1e-12)


def test_backprojection_floor():
    assert get_problem("blur").backprojection_psnr() > get_problem("downsampling").backprojection_psnr()
    assert all(math.isfinite(get_problem(n).backprojection_psnr()) for n in PROBLEMS)


def test_unknown_formation_is_refused():
    with pytest.raises(ConfigError, match="unknown formation 'deconvolve'"):
        get_problem("deconvolve")
