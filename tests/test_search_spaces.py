import json

import pytest
import torch

from bohb_das.errors import ConfigError
from bohb_das.problems import get_problem
from bohb_das.operations import OP_SETS
from bohb_das.search_spaces import SPACES, Genotype
from bohb_das.search_spaces.cell import CellSpace
from bohb_das.search_spaces.sequential import SequentialSpace
from bohb_das.training import TrialData, build


def data(seeds=(0, 1)):
    return TrialData(get_problem("downsampling"), seeds, "data", "cpu", torch.float64)


@pytest.mark.parametrize("space", sorted(SPACES))
@pytest.mark.parametrize("ops", sorted(OP_SETS))
def test_every_space_maps_signals_to_signals(space, ops):
    p = data()
    model = build(SPACES[space], OP_SETS[ops], p, 4, "init")
    weights = torch.softmax(torch.randn(2, *model.alpha_shape(), dtype=torch.float64), -1)
    x, ctx = p.batch()
    assert model(ctx.u0, weights, ctx).shape == x.shape == (2, p.problem.batch_size, 50)


def test_space_sizes():
    assert len(SequentialSpace.edges) == 10
    assert len(CellSpace.edges) == 30  # two cells of 15 edges
    p = data()
    assert build(CellSpace, OP_SETS["good"], p, 4, "init").candidates == ("learnable_gd", "net", "zero")


def test_discretize_keeps_argmax_and_drops_zero_edges():
    model = build(CellSpace, OP_SETS["all"], data(), 4, "init")
    weights = torch.zeros(2, 30, 5, dtype=torch.float64)
    weights[0, :, 4] = 1  # trial 0: every edge zero
    weights[1, :, 1] = 1  # trial 1: every edge net
    weights[1, 3, 2] = 2  # ... but edge 3 roll
    g0, g1 = model.discretize(weights)
    assert g0.ops == (None,) * 30
    assert g1.ops[3] == "roll" and g1.ops.count("net") == 29
    assert torch.equal(model.one_hot([g0, g1]).argmax(-1), weights.argmax(-1))


@pytest.mark.parametrize("space", sorted(SPACES))
def test_genotype_round_trips_through_json(space):
    model = build(SPACES[space], OP_SETS["all"], data(), 4, "init")
    genotype = model.discretize(torch.randn(2, *model.alpha_shape()))[1]
    again = Genotype.from_json(json.loads(json.dumps(genotype.to_json())))
    assert again == genotype
    assert str(again)


@pytest.mark.parametrize(
    "value, message",
    [
        ({"space": "tree", "ops": []}, "unknown search space 'tree'"),
        ({"space": "sequential", "ops": ["net"]}, "has 10 ops"),
        (["net"] * 10, "a genotype is"),
    ],
)
def test_malformed_genotypes_are_refused(value, message):
    with pytest.raises(ConfigError, match=message):
        Genotype.from_json(value)


def test_unknown_operation_in_genotype_is_refused():
    model = build(SequentialSpace, OP_SETS["good"], data(), 4, "init")
    with pytest.raises(ConfigError, match="'roll' is not among"):
        model.one_hot([Genotype("sequential", ("roll",) * 10)])


def test_unknown_space_is_refused():
    with pytest.raises(ConfigError, match="unknown search space 'dag'"):
        SPACES["dag"]


def test_each_space_describes_its_genotypes():
    assert str(Genotype("sequential", ("net",) * 9 + ("roll",))) == " > ".join(["net"] * 9 + ["roll"])
    cell = Genotype("cell", ("net",) + (None,) * 29)
    assert str(cell) == "c0:0->1:net" and str(Genotype("cell", (None,) * 30)) == "(empty)"


@pytest.mark.parametrize("ops, expected", [
    ("net", 10 * (3 * 32 + 2 * 32 + 32 * 3 + 1) + 1),  # per layer w1, gamma and beta, w2, b2; the residual scale
    ("learnable_gd", 10 * (3 * 32 + 2 * 32 + 32 * 3 + 1 + 1) + 1),  # ... and the step size
    ("roll", 1),  # parameter-free layers: the residual scale alone
])
def test_an_architectures_size_counts_the_parameters_it_uses(ops, expected):
    from bohb_das.training import architecture_size

    genotype = Genotype("sequential", (ops,) * 10)
    assert architecture_size(SequentialSpace, OP_SETS["all"], genotype, get_problem("blur"), 32) == expected


def test_a_dropped_edge_and_a_narrower_width_shrink_the_size():
    from bohb_das.search_spaces.trilevel import TrilevelSpace, width_name
    from bohb_das.training import architecture_size

    empty = Genotype("cell", (None,) * 30)  # only the last cell's merge bias and the residual scale reach the output
    assert architecture_size(CellSpace, OP_SETS["good"], empty, get_problem("blur"), 32) == 2
    half = Genotype("trilevel", ("net",) * 10 + (width_name(0.5),) * 10 + ("after-layer3",))
    assert architecture_size(TrilevelSpace, OP_SETS["all"], half, get_problem("blur"), 32) == 4 * (3 * 16 + 2 * 16 + 16 * 3 + 1) + 1
