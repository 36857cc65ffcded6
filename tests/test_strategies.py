"""Pruning strategies against the torch.nn.utils.prune oracle (the seed code's method)."""
import pytest
import torch
import torch.nn.utils.prune as torch_prune
import torchvision

from ltcv_mm.core import Ticket, get_strategy, prune, random_like, select_prunable
from ltcv_mm.core.strategies import count_to_prune


def _oracle_masks(state, names, rounds, rate=0.2):
    """k successive global_unstructured(L1Unstructured) calls, as the seed code prunes."""
    model = torchvision.models.resnet50()
    model.load_state_dict(state)
    modules = dict(model.named_modules())
    params = [(modules[n[:-len('.weight')]], 'weight') for n in names]
    for _ in range(rounds):
        torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=rate)
    return {n: modules[n[:-len('.weight')]].weight_mask.bool() for n in names}


def assert_same_as_oracle(ticket, oracle, weights):
    """Bit-identical masks, except where magnitudes tie exactly at a cut.

    torch.nn.utils.prune breaks exact ties by topk's internal order; there the
    multiset of kept magnitudes must still be identical.
    """
    diff_vals = []
    for name, ref in oracle.items():
        diff = ticket.masks[name] != ref
        diff_vals.append(weights[name].abs()[diff])
    diff_vals = torch.cat(diff_vals)
    ours = torch.cat([weights[n].abs()[ticket.masks[n]] for n in oracle]).sort().values
    theirs = torch.cat([weights[n].abs()[oracle[n]] for n in oracle]).sort().values
    assert torch.equal(ours, theirs), 'kept magnitudes differ from torch.nn.utils.prune'
    # Any disagreement is a pair of weights with the same magnitude, swapped.
    assert diff_vals.numel() % 2 == 0
    if diff_vals.numel():
        assert torch.unique(diff_vals).numel() <= diff_vals.numel() // 2
    assert diff_vals.numel() <= 8, f'{diff_vals.numel()} disagreements: more than exact ties'


@pytest.mark.parametrize('rounds', [1, 2, 5])
def test_global_magnitude_matches_torch_prune_on_resnet50(resnet50_state, rounds):
    weights = select_prunable(resnet50_state)
    ticket = prune(weights, rounds=rounds, rate=0.2)
    oracle = _oracle_masks(resnet50_state, list(weights), rounds)
    assert_same_as_oracle(ticket, oracle, weights)
    expected_kept = 23_445_504
    for _ in range(rounds):
        expected_kept -= round(0.2 * expected_kept)
    assert ticket.kept == expected_kept
    assert ticket.density == pytest.approx(0.8 ** rounds, abs=1e-6)
    assert ticket.meta['round'] == rounds and ticket.meta['strategy'] == 'global_magnitude'


def test_masks_are_bit_identical_without_ties():
    """Distinct magnitudes (a permutation of a grid) leave no tie to break."""
    g = torch.Generator().manual_seed(1)
    shapes = {'layer1.0.conv1.weight': (8, 4, 3, 3), 'layer1.0.conv2.weight': (8, 8, 1, 1),
              'layer2.0.conv1.weight': (16, 8, 3, 3)}
    n = sum(torch.Size(s).numel() for s in shapes.values())
    values = (torch.randperm(n, generator=g).float() + 1) * torch.where(torch.rand(n, generator=g) < 0.5, -1, 1)
    weights, off = {}, 0
    for k, s in shapes.items():
        weights[k] = values[off:off + torch.Size(s).numel()].view(s)
        off += torch.Size(s).numel()
    convs = {k: torch.nn.Conv2d(s[1], s[0], s[2], bias=False) for k, s in shapes.items()}
    for k, c in convs.items():
        c.weight.data.copy_(weights[k])
    params = [(c, 'weight') for c in convs.values()]
    ticket = Ticket.dense(weights)
    for _ in range(4):
        torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured, amount=0.2)
        ticket = get_strategy('global_magnitude')(weights, ticket, 0.2)
        for k, c in convs.items():
            assert torch.equal(ticket.masks[k], c.weight_mask.bool()), k


def test_count_is_round_of_rate_times_remaining():
    assert count_to_prune(0.2, 10) == 2
    assert count_to_prune(0.25, 10) == 2   # 2.5 rounds half to even, as torch.nn.utils.prune
    assert count_to_prune(0.35, 10) == 4   # 3.5 -> 4


def test_layerwise_magnitude_prunes_each_layer_by_rate(resnet50_state):
    weights = select_prunable(resnet50_state)
    t = prune(weights, rounds=2, strategy='layerwise_magnitude')
    for name, mask in t.masks.items():
        n = mask.numel()
        kept = n - round(0.2 * n)
        kept -= round(0.2 * kept)
        assert int(mask.sum()) == kept, name
        # the pruned weights are the smallest of their layer
        w = weights[name].abs()
        assert w[~mask].max() <= w[mask].min()


def test_random_global_is_seeded_and_global(resnet50_state):
    weights = select_prunable(resnet50_state)
    a = prune(weights, rounds=2, strategy='random_global', generator=torch.Generator().manual_seed(3))
    b = prune(weights, rounds=2, strategy='random_global', generator=torch.Generator().manual_seed(3))
    c = prune(weights, rounds=2, strategy='random_global', generator=torch.Generator().manual_seed(4))
    assert a == b and a != c
    assert a.kept == prune(weights, rounds=2).kept
    # independent of magnitude: overlap with the magnitude ticket is chance level,
    # IoU = d^2 / (2d - d^2) for two independent masks of density d
    mag = prune(weights, rounds=2)
    d = 0.64
    assert a.overlap(mag) == pytest.approx(d * d / (2 * d - d * d), abs=0.005)


def test_random_layerwise_prunes_each_layer_by_rate_among_the_kept_weights(resnet50_state):
    """Per layer round(rate * kept) weights, drawn only among the weights the previous ticket keeps,
    repeatable with its seed (a global draw would give other per-layer counts)."""
    weights = select_prunable(resnet50_state)
    start = prune(weights, rounds=1)  # magnitude: uneven per-layer densities to start from
    a = prune(weights, start, rounds=1, strategy='random_layerwise', generator=torch.Generator().manual_seed(5))
    b = prune(weights, start, rounds=1, strategy='random_layerwise', generator=torch.Generator().manual_seed(5))
    c = prune(weights, start, rounds=1, strategy='random_layerwise', generator=torch.Generator().manual_seed(6))
    assert a == b and a != c
    for name, mask in a.masks.items():
        kept = int(start.masks[name].sum())
        assert int(mask.sum()) == kept - round(0.2 * kept), name
        assert not bool((mask & ~start.masks[name]).any()), name  # nothing pruned before comes back


def test_random_like_copies_per_layer_densities(resnet50_state):
    weights = select_prunable(resnet50_state)
    ticket = prune(weights, rounds=3, strategy='layerwise_magnitude')
    ticket = prune(weights, ticket, rounds=1)  # uneven per-layer densities
    rnd = random_like(weights, ticket, 0.0, torch.Generator().manual_seed(0))
    assert rnd.layer_density() == ticket.layer_density()
    assert rnd != ticket


def test_prune_rejects_bad_rate_and_unknown_strategy(resnet50_state):
    weights = select_prunable(resnet50_state)
    for rate in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match='rate must be in'):
            prune(weights, rate=rate)
    with pytest.raises(KeyError, match='unknown pruning strategy'):
        prune(weights, strategy='nope')


def test_nan_weights_are_named():
    w = {'layer1.0.conv1.weight': torch.randn(4, 4, 3, 3)}
    w['layer1.0.conv1.weight'][0, 0, 0, 0] = float('nan')
    with pytest.raises(ValueError, match="layer1.0.conv1.weight.*NaN"):
        prune(w)


def _tie_oracle(weights: dict, ticket: Ticket, k: int) -> dict:
    """The documented rule, computed independently: of the kept weights, the k smallest magnitudes go,
    ties in (layer, flat index) order; a stable sort over the layers laid end to end gives exactly that."""
    names = list(ticket.masks)
    scores = torch.cat([weights[n].abs().reshape(-1) for n in names])
    kept = torch.cat([ticket.masks[n].reshape(-1) for n in names])
    order = torch.sort(torch.where(kept, scores, torch.tensor(float('inf'))), stable=True).indices
    flat = kept.clone()
    flat[order[:k]] = False
    out, start = {}, 0
    for n in names:
        size = ticket.masks[n].numel()
        out[n] = flat[start:start + size].view(ticket.masks[n].shape)
        start += size
    return out


@pytest.mark.parametrize('shape', [(4, 4, 1, 1), (256, 256, 3, 3)], ids=['few-weights', 'bracketed'])
def test_ties_at_the_cut_go_in_layer_then_index_order(shape):
    """Magnitudes from three values: the cut always falls inside a run of exact ties."""
    gen = torch.Generator().manual_seed(0)
    levels = torch.tensor([0.1, 0.2, 0.3])
    weights = {f'layer{i}.0.conv1.weight': levels[torch.randint(0, 3, shape, generator=gen)]
               * torch.where(torch.rand(shape, generator=gen) < 0.5, -1.0, 1.0) for i in (1, 2)}
    ticket = Ticket.dense(weights)
    for rate in (0.3, 0.45):  # two rounds: the second starts from a pruned ticket
        k = count_to_prune(rate, ticket.kept)
        expected = _tie_oracle(weights, ticket, k)
        nxt = get_strategy('global_magnitude')(weights, ticket, rate)
        for name in weights:
            assert torch.equal(nxt.masks[name], expected[name]), name
        layerwise = get_strategy('layerwise_magnitude')(weights, ticket, rate)
        for name in weights:
            one = Ticket({name: ticket.masks[name]})
            want = _tie_oracle(weights, one, count_to_prune(rate, one.kept))[name]
            assert torch.equal(layerwise.masks[name], want), name
        ticket = nxt


def test_semi_structured_2_4_keeps_the_two_largest_of_every_four_input_channels():
    from ltcv_mm.core import Ticket, get_strategy
    gen = torch.Generator().manual_seed(0)
    w = {'layer1.0.conv2.weight': torch.randn(6, 8, 3, 3, generator=gen),
         'layer1.0.conv3.weight': torch.randn(4, 12, 1, 1, generator=gen)}
    step = get_strategy('semi_structured_2_4')
    t = step(w, Ticket.dense(w), 0.0)
    for name, mask in t.masks.items():
        groups = mask.permute(0, 2, 3, 1).reshape(-1, 4)
        assert bool((groups.sum(1) == 2).all()), name  # exactly 2 of every 4 from a dense start
        mags = w[name].abs().permute(0, 2, 3, 1).reshape(-1, 4)
        kept_min = torch.where(groups, mags, torch.inf).min(1).values
        pruned_max = torch.where(~groups, mags, -torch.inf).max(1).values
        assert bool((kept_min >= pruned_max).all()), name  # the two largest stay
    assert t.sparsity == 0.5
    # from a ticket that already pruned: never revives, groups may keep fewer
    start = Ticket({k: m.clone() for k, m in t.masks.items()})
    start.masks['layer1.0.conv3.weight'][0, 0:4] = False
    again = step(w, start, 0.0)
    assert all(bool((again.masks[k] <= start.masks[k]).all()) for k in w)
    assert int(again.masks['layer1.0.conv3.weight'][0, 0:4].sum()) == 0
    with pytest.raises(ValueError, match=r"'conv1.weight': 2:4 sparsity groups input channels by 4, but it has 3"):
        step({'conv1.weight': torch.randn(8, 3, 7, 7)}, Ticket.dense({'conv1.weight': torch.randn(8, 3, 7, 7)}), 0.0)


def test_prune_refuses_rounds_that_are_no_whole_number_and_stops_where_rounds_prune_nothing():
    weights = {'layer1.0.conv1.weight': torch.randn(2, 2, 1, 1)}  # 4 weights: 3, then 2, then 2 kept at rate 0.2
    with pytest.raises(ValueError, match=r'rounds must be a whole number >= 1, got 2.5'):
        prune(weights, rounds=2.5)
    with pytest.warns(UserWarning, match=r'rounds=5, but after 2 rounds at rate 0.2 2 weights are kept and a '
                                         r'round removes round\(0.2 \* 2\) = 0; stopped after 2 rounds'):
        ticket = prune(weights, rounds=5)
    assert ticket.kept == 2 and ticket.meta['round'] == 2  # the rounds taken, not the ones asked for
