"""The sparse supernet: unnormalised weights (``identity``), the proximal ``hapg`` update, and
genotypes that keep several operations on an edge (mixed paths)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from bohb_das.errors import ConfigError
from bohb_das.hparams import HParams
from bohb_das.operations import OP_SETS
from bohb_das.problems import get_problem
from bohb_das.relaxations import RELAXATIONS
from bohb_das.search_spaces import Genotype, as_edge
from bohb_das.search_spaces.cell import CellSpace
from bohb_das.search_spaces.sequential import SequentialSpace
from bohb_das.training import TrialData, build
from bohb_das.trial import TrialSpec, run_trials
from bohb_das.updates.proximal import sparse_group_prox

SPARSE = {"relaxation": "identity", "lasso_lambda": 1.0, "alpha_lr": 0.01}


def penalty(alpha: torch.Tensor, mix: float, groups) -> torch.Tensor:
    group = sum(alpha[:, list(g)].flatten(1).norm(dim=1) * alpha[0, list(g)].numel() ** 0.5 for g in groups)
    return (1 - mix) * group + mix * alpha.abs().flatten(1).sum(1)


@pytest.mark.parametrize("mix", [0.0, 0.5, 1.0])
def test_the_proximal_map_minimizes_the_penalised_distance(mix):
    """prox(z) = argmin_x 0.5 ||x - z||^2 + t * penalty(x): no perturbation of it does better."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(3, 6, 4, generator=gen, dtype=torch.float64)
    t = torch.tensor([0.05, 0.3, 20.0], dtype=torch.float64)
    groups = ((0,), (1, 2), (3, 4, 5))
    x = sparse_group_prox(z, t, mix, groups)
    objective = lambda v: 0.5 * ((v - z) ** 2).flatten(1).sum(1) + t * penalty(v, mix, groups)
    best = objective(x)
    for _ in range(200):
        moved = x + 1e-3 * torch.randn(x.shape, generator=gen, dtype=torch.float64)
        assert bool((objective(moved) >= best - 1e-12).all())
    assert bool((x[2] == 0).all())  # a threshold beyond every group's norm drops everything


def test_the_group_part_drops_whole_nodes_and_the_l1_part_single_operations():
    z = torch.tensor([[[1.0, 0.05, -2.0], [0.1, 0.1, -0.1]]], dtype=torch.float64)
    l1 = sparse_group_prox(z, torch.tensor([0.2]), 1.0, ((0,), (1,)))
    assert torch.allclose(l1, torch.tensor([[[0.8, 0.0, -1.8], [0.0, 0.0, 0.0]]], dtype=torch.float64))
    group = sparse_group_prox(z, torch.tensor([0.2]), 0.0, ((0,), (1,)))
    assert bool((group[0, 1] == 0).all()) and bool((group[0, 0] != 0).all())  # ||row 1|| 0.17 < 0.2 sqrt(3)


def test_the_cell_space_groups_the_incoming_edges_of_each_state():
    groups = CellSpace.groups()
    assert [len(g) for g in groups] == [1, 2, 3, 4, 5] * 2
    assert sorted(e for g in groups for e in g) == list(range(len(CellSpace.edges)))
    assert all(CellSpace.edges[e].endswith(f"->{len(g)}") for g in groups for e in g)
    assert SequentialSpace.groups() == tuple((e,) for e in range(10))


def test_a_mixed_path_genotype_round_trips_and_reads():
    ops = ("net", ("learnable_gd", "net")) + ("net",) * 8
    genotype = Genotype("sequential", ops)
    assert Genotype.from_json(genotype.to_json()) == genotype
    assert genotype.to_json()["ops"][1] == ["learnable_gd", "net"]
    assert str(genotype).startswith("net > learnable_gd+net > net")
    for bad in (["net"], ["net", "net"], [1, 2], {"net": 1}):
        with pytest.raises(ConfigError, match="a genotype's edge is"):
            Genotype.from_json({"space": "sequential", "ops": [bad] + ["net"] * 9})


def test_the_support_keeps_every_nonzero_operation_but_zero():
    """The identity relaxation keeps alpha's support; the space names it (several operations on an
    edge, a mixed path; ``zero`` never; an edge with none dropped)."""
    data = TrialData(get_problem("blur"), [1], "data", "cpu", torch.float64)
    model = build(CellSpace, OP_SETS["good"], data, 2, "init")  # candidates: learnable_gd, net, zero
    weights = torch.zeros(1, 30, 3, dtype=torch.float64)
    weights[0, 0] = torch.tensor([0.3, -0.1, 0.0])
    weights[0, 1] = torch.tensor([0.0, 0.2, 0.5])
    weights[0, 2] = torch.tensor([0.0, 0.0, 0.9])
    (genotype,) = model.genotypes(RELAXATIONS["identity"](HParams(relaxation="identity")).kept(weights))
    assert genotype.ops[:4] == (("learnable_gd", "net"), "net", None, None)


def test_a_mixed_path_computes_the_sum_of_its_operations_in_a_batch_of_single_ones():
    """Trial 1 keeps a mixed path on layer 0: that edge computes all candidates, weighted, and gives
    the mean of what each of its operations gives alone; trial 0's single operation is unchanged."""
    data = TrialData(get_problem("blur"), [1, 2], "data", "cpu", torch.float64)
    x, ctx = data.batch()
    model = build(SequentialSpace, OP_SETS["good"], data, 3, "init").eval()

    def first_layer(edge) -> torch.Tensor:
        weights = model.fix([Genotype("sequential", ("net",) * 10), Genotype("sequential", (edge,) + ("net",) * 9)])
        return model.mixed[0](x, weights[:, 0], ctx)

    both = first_layer(("learnable_gd", "net"))
    assert model.mixed[0].chosen is None and model.mixed[1].chosen is not None
    gd, net = first_layer("learnable_gd"), first_layer("net")
    assert model.mixed[0].chosen.tolist() == [1, 1]
    assert torch.allclose(both[1], (gd[1] + net[1]) / 2, atol=1e-12)
    assert torch.allclose(both[0], net[0], atol=1e-12)


def test_the_sparse_supernet_needs_the_identity_relaxation():
    with pytest.raises(ConfigError, match="sparse_supernet needs --relaxation identity, got softmax"):
        TrialSpec(method="sparse_supernet", epochs=1, width=4)


def test_the_sparse_supernet_prunes_to_a_support_and_keeps_everything_without_the_lasso():
    spec = TrialSpec(method="sparse_supernet", ops="good", epochs=2, width=4,
                     hparams=HParams.from_mapping({**SPARSE, "alpha_warmup": False}))
    (pruned,) = run_trials(spec, [3], dtype=torch.float64)
    alphas = torch.tensor(pruned.alphas)
    assert pruned.status == "ok" and bool((alphas == 0).any())
    support = [as_edge([op for op, a in zip(OP_SETS["good"], row) if a != 0]) for row in alphas.tolist()]
    assert Genotype.from_json(pruned.genotype) == Genotype("sequential", tuple(support))
    loose = replace(spec, hparams=HParams.from_mapping({**SPARSE, "lasso_lambda": 0.0, "alpha_warmup": False}))
    (whole,) = run_trials(loose, [3], dtype=torch.float64)
    assert Genotype.from_json(whole.genotype).ops == (("learnable_gd", "net"),) * 10


def test_hapg_trials_in_one_batch_equal_each_alone():
    """Momentum, warm-up rest, per-trial rates and the proximal map are each trial's own."""
    from tests.test_mixed_hparams import ADAM, GD_FAST, assert_each_equals_alone

    spec = TrialSpec(method="sparse_supernet", epochs=1, width=4, hparams=HParams.from_mapping(SPARSE))
    mixed = [HParams.from_mapping(SPARSE, defaults=hp) for hp in (GD_FAST, ADAM)]
    assert_each_equals_alone(spec, [3, 3], mixed)


def test_the_group_shrinkage_uses_each_groups_own_number_of_options():
    alpha = torch.tensor([[[3.0, 4.0, 0.0, 0.0], [0.6, 0.8, 0.0, 0.0]]], dtype=torch.float64)  # norms 5 and 1
    out = sparse_group_prox(alpha, torch.tensor([0.1], dtype=torch.float64), 0.0, [(0,), (1,)], sizes=[4, 2])
    torch.testing.assert_close(out[0, 0], alpha[0, 0] * (1 - 0.1 * 2 / 5))  # sqrt(4) = 2
    torch.testing.assert_close(out[0, 1], alpha[0, 1] * (1 - 0.1 * math.sqrt(2) / 1))  # two options, not four
    default = sparse_group_prox(alpha, torch.tensor([0.1], dtype=torch.float64), 0.0, [(0,), (1,)])
    torch.testing.assert_close(default[0, 1], alpha[0, 1] * (1 - 0.1 * 2 / 1))  # without sizes: every entry of the row
