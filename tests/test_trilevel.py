"""Trilevel NAS's space: a width per layer (kernel level), an exit (network level), each choice
relaxed on its own beside the operations (cell level)."""

import copy
from dataclasses import replace

import pytest
import torch

from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams, load_preset
from bohb_das.methods import random_genotypes
from bohb_das.operations import OP_SETS, Context
from bohb_das.operations import mixed as mixed_module
from bohb_das.operations.mixed import MixedOp
from bohb_das.problems import get_problem
from bohb_das.relaxations import RELAXATIONS, ArchitectureRelaxation
from bohb_das.rng import TrialStreams
from bohb_das.search import ArchitectureStep
from bohb_das.search_spaces import Genotype
from bohb_das.search_spaces.trilevel import LAYERS, WIDTH_FRACTIONS, TrilevelSpace, width_name
from bohb_das.training import Failures, TrialData, build
from bohb_das.trial import TrialSpec, run_trials

TINY = TrialSpec(space="trilevel", method="das_one_phase", ops="good", epochs=1, width=4,
                 hparams=HParams.from_mapping({"alpha_warmup": False, "alpha_optimizer": "adam", "alpha_lr": 0.05,
                                               "relaxation": "sparsestmax", "sparsestmax_radius": "absolute"}))


def data(seeds=(0, 1)) -> TrialData:
    return TrialData(get_problem("blur"), seeds, "data", "cpu", torch.float64)


def genotype(ops: str, width: float, exit_after: int) -> Genotype:
    return Genotype("trilevel", (ops,) * len(LAYERS) + (width_name(width),) * len(LAYERS) + (f"after-layer{exit_after}",))


@pytest.mark.parametrize("fused", [True, False])
def test_a_width_is_the_net_with_its_further_hidden_channels_cut(monkeypatch, fused):
    if fused and not mixed_module.fused_available(torch.device("cpu")):
        pytest.skip("the fused kernel is not available here")
    monkeypatch.setattr(mixed_module, "fused_available", lambda device, f=fused: f)
    problem = get_problem("blur").to("cpu", torch.float64)
    y = torch.randn(2, 16, 50, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ctx = Context(problem.adjoint(y), problem, TrialStreams([0, 1], "noise"))
    op = MixedOp(["learnable_gd", "net"], 2, 8, TrialStreams([0, 1], "init")).double()
    cut = copy.deepcopy(op)
    with torch.no_grad():  # half the width: channels 4..7 of each of the two nets contribute nothing
        for net in range(2):
            cut.w2[:, net * 8 + 4:(net + 1) * 8] = 0
    weights = torch.tensor([[0.3, 0.7], [0.6, 0.4]], dtype=torch.float64)
    hidden = (torch.arange(8) < 4).to(torch.float64).expand(2, 8)
    torch.testing.assert_close(op(ctx.u0, weights, ctx, hidden), cut(ctx.u0, weights, ctx), rtol=0, atol=1e-12)
    op.eval(), cut.eval()
    torch.testing.assert_close(op(ctx.u0, weights, ctx, hidden), cut(ctx.u0, weights, ctx), rtol=0, atol=1e-12)


def test_the_exit_ends_the_chain():
    p = data()
    model = build(TrilevelSpace, OP_SETS["all"], p, 4, "init")
    weights = model.fix([genotype("net", 0.5, 3), genotype("learnable_gd", 1.0, 6)])
    x, ctx = p.batch()
    model.eval()
    chain = ctx.u0  # by hand, trial 0: four half-width net layers, then the residual path
    masks = model.width_masks(chain)
    for j in range(4):
        chain = model.mixed[j](chain, weights[:, j], ctx, weights[:, 10 + j, :4] @ masks)
    out = model(ctx.u0, weights, ctx)
    torch.testing.assert_close(out[0], (chain + model.skip.view(-1, 1, 1) * ctx.u0)[0], rtol=0, atol=1e-12)


def test_a_trials_noise_draws_do_not_depend_on_the_exits_of_its_batch():
    """Noise in every layer: trial 0 exits after layer 2 alone and beside a trial that exits after
    layer 8; its output is the same either way."""
    p = TrialData(get_problem("blur"), [0, 1], "data", "cpu", torch.float64)
    alone_data = TrialData(get_problem("blur"), [0], "data", "cpu", torch.float64)
    outs = []
    for data_, genotypes in ((p, [genotype("noise", 1.0, 2), genotype("noise", 1.0, 8)]), (alone_data, [genotype("noise", 1.0, 2)])):
        model = build(TrilevelSpace, OP_SETS["all"], data_, 4, "init")
        weights = model.fix(genotypes)
        model.eval()
        for _ in range(2):  # the second pass reads where the first left the streams
            _, ctx = data_.batch()
            out = model(ctx.u0, weights, ctx)
        outs.append(out[0])
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=1e-12)


def test_each_choice_is_relaxed_by_its_own_relaxation():
    p = data()
    model = build(TrilevelSpace, OP_SETS["all"], p, 4, "init")
    alpha = torch.nn.Parameter(torch.randn(2, *model.alpha_shape(), dtype=torch.float64))
    step = ArchitectureStep(model, alpha, p, HParams(), Failures.none(2))
    assert isinstance(step.relaxation, ArchitectureRelaxation)
    assert [type(r) for _, _, r in step.relaxation.parts] == [RELAXATIONS[n] for n in ("softmax", "gumbel", "sparsestmax")]
    w = step.relaxation(alpha, 1.0, None)
    layers = len(LAYERS)
    ops = len(model.candidates)  # the four of "all"
    torch.testing.assert_close(w[:, :layers, :ops], torch.softmax(alpha[:, :layers, :ops], -1))  # the operations: softmax
    assert not w[:, :layers, ops:].any()  # alpha is as wide as the ten exits; the operations' rows use their own columns
    assert torch.equal((w[:, layers:2 * layers, :4] != 0).sum(-1), torch.ones(2, layers, dtype=torch.long))  # gumbel: hard
    assert torch.equal(w[:, layers:2 * layers, 4:], torch.zeros(2, layers, 6, dtype=torch.float64))  # beyond its 4 options
    assert torch.equal((w[:, -1] > 1e-12).sum(-1), torch.ones(2, dtype=torch.long))  # sparsestmax at full radius: one exit
    kept = step.relaxation.kept(alpha.detach())
    assert kept.sum().item() == 2 * (2 * layers + 1)  # one option a row


def test_random_genotypes_pick_every_choice_among_its_own_options():
    (g,) = random_genotypes(TrilevelSpace, OP_SETS["good"], [11])
    assert set(g.ops[:10]) <= {"learnable_gd", "net"}
    assert set(g.ops[10:20]) <= {width_name(f) for f in WIDTH_FRACTIONS}
    assert g.ops[20].startswith("after-layer") and Genotype.from_json(g.to_json()) == g
    assert "| exit" in str(g)


def test_trilevel_runs_from_its_preset():
    spec = replace(TINY, hparams=load_preset("trilevel"), formation="denoise2d")
    (result,) = run_trials(spec, [0])
    assert result.status == "ok" and len(result.genotype["ops"]) == 21


def test_the_operation_baselines_are_refused_where_the_space_has_other_choices():
    with pytest.raises(ConfigError, match="the trilevel space also chooses width, exit: it has no all-net baseline"):
        run_trials(replace(TINY, method="nets_only"), [0])
    model = build(TrilevelSpace, OP_SETS["all"], data(), 4, "init")
    with pytest.raises(ConfigError, match="a trilevel genotype has 21 ops, got 10"):
        model.one_hot([Genotype("trilevel", ("net",) * 10)])
