"""The memory estimate, per device when sharded, and the capacity table built on it."""

import pytest

from sweeper.core.memory import MemoryBudgetError, PeakEstimate, check_fits, estimate_peak_bytes, largest_n, main


def linear_param_bytes(n: int, f: int) -> int:
    return 4 * n * (f * f + f)


def test_one_device_estimate_by_hand():
    # N = 8, F = 4, B = 32: 3 x 640 parameter bytes + 6 float32 (8, 8) matrices + 3 (8, 32, 4) activations
    assert estimate_peak_bytes(linear_param_bytes(8, 4), 8, 4, 32) == 3 * 640 + 6 * 4 * 64 + 3 * 4 * 8 * 32 * 4
    # past 4096 lanes the pairwise matrices stop growing: they are sampled
    big = estimate_peak_bytes(0, 10_000, 1, 1) - 3 * 4 * 10_000
    assert big == 6 * 4 * 4096 * 4096


def test_sharded_estimate_divides_parameters_and_activations_not_the_pair_matrices():
    # the same job on 4 devices: a quarter of the parameters and activations, all of the (8, 8) matrices
    assert (
        estimate_peak_bytes(linear_param_bytes(8, 4), 8, 4, 32, devices=4) == 3 * 160 + 6 * 4 * 64 + 3 * 4 * 2 * 32 * 4
    )
    assert estimate_peak_bytes(linear_param_bytes(8, 4), 8, 4, 32, devices=1) == estimate_peak_bytes(
        linear_param_bytes(8, 4), 8, 4, 32
    )


def test_cpu_devices_share_ram_so_the_budget_holds_the_total():
    per_device = 3 * 160 + 6 * 4 * 64 + 3 * 4 * 2 * 32 * 4
    assert check_fits(640, 8, 4, 32, 1.0, devices=4) == PeakEstimate(4 * per_device, per_device)
    with pytest.raises(MemoryBudgetError, match=r"^num_inits=8 features=4: needs an estimated 2\.04e-05 GB \("):
        check_fits(640, 8, 4, 32, 4 * per_device / 1e9 - 1e-9, devices=4)


@pytest.mark.parametrize("features", [64, 256, 1024])
@pytest.mark.parametrize("devices", [1, 4, 8])
def test_largest_n_is_the_largest_multiple_of_the_devices_that_fits(features, devices):
    budget = 1e9

    def fits(n):
        return estimate_peak_bytes(linear_param_bytes(n, features), n, features, 32, devices) <= budget

    n = largest_n(features, budget, devices=devices)
    assert n > 0 and n % devices == 0
    assert fits(n) and not fits(n + devices)


def test_more_devices_fit_more_lanes_each_holding_fewer():
    one, eight = largest_n(256, 16e9), largest_n(256, 16e9, devices=8)
    assert one < eight <= 8 * one


def test_the_capacity_table(capsys):
    main(["--features", "64", "1024", "--gb", "1", "16", "--devices", "1", "4"])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 + 2 * 2
    assert [c.strip() for c in lines[0].strip("|").split("|")] == ["GB per device", "devices", "F=64", "F=1024"]
    cells = [c.strip() for c in lines[3].strip("|").split("|")]  # 1 GB on 4 devices
    assert cells == ["1", "4", f"{largest_n(64, 1e9, devices=4):,}", f"{largest_n(1024, 1e9, devices=4):,}"]
