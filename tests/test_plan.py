"""The plan: seeds from the root seed, and each realisation's task graph."""


from mesosweep.ensemble.plan import degrees, plan
from mesosweep.ensemble.realisation import submit_realisation
from mesosweep.ensemble.seeds import LAMMPS_SEED_MAX, realisation_seeds
from mesosweep.ensemble.spec import load_spec


def test_seeds_are_derived_reproducible_distinct_and_in_lammps_range():
    a = realisation_seeds(20251125, 0, 3)
    assert a == realisation_seeds(20251125, 0, 3)
    assert a != realisation_seeds(20251125, 0, 4) and a != realisation_seeds(20251126, 0, 3)
    assert len(set(a.values())) == len(a)
    assert all(1 <= s <= LAMMPS_SEED_MAX for s in a.values())


class RecordingClient:
    """Records what would be submitted (the graph's shape), runs nothing."""

    def __init__(self):
        self.tasks = {}
        self.priorities = {}

    def submit(self, fn, *args, key, pure, priority):
        assert pure is False  # a realisation has side effects: never deduplicated by Dask
        self.tasks[key] = (fn.__name__, args)
        self.priorities[key] = priority
        return key


def test_one_dried_electrode_feeds_a_pressing_chain_and_analysis_follows_each_state(
        tiny_spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = load_spec(tiny_spec())
    real = plan(spec)[0]
    client = RecordingClient()
    (tmp_path / "db.npz").write_bytes(b"a database, by its fingerprint")
    final = submit_realisation(client, spec, real, tmp_path / "db.npz", ("mpiexec",), None)
    by_name = {}
    for key, (name, args) in client.tasks.items():
        by_name.setdefault(name, []).append((key, args))
    assert len(by_name["run_dried"]) == 1
    dried_key = by_name["run_dried"][0][0]
    # The pressings chain in increasing degree from the dried state; each release follows its own.
    pressed = sorted(by_name["run_pressed"], key=lambda kv: kv[1][2])
    chain = [d for d in degrees(spec) if d]
    assert [args[2] for _, args in pressed] == chain
    assert [args[3] for _, args in pressed] == [None, *chain[:-1]]  # the previous degree
    assert [args[-1] for _, args in pressed] == [dried_key, *(k for k, _ in pressed[:-1])]
    press_keys = {args[2]: key for key, args in pressed}
    calendered = by_name["run_calendered"]
    assert sorted(args[2] for _, args in calendered) == chain
    assert all(args[-1] == press_keys[args[2]] for _, args in calendered)
    branch_keys = {args[2]: key for key, args in calendered}
    analyses = by_name["run_analysis"]
    assert sorted(args[2] for _, args in analyses) == list(degrees(spec))
    for _, args in analyses:  # each analysis follows its own state
        assert args[-1] == (dried_key if args[2] == 0.0 else branch_keys[args[2]])
    # An earlier realisation's tasks go first (one priority per realisation, falling with it).
    second = RecordingClient()
    submit_realisation(second, spec, plan(spec)[1], tmp_path / "db.npz", ("mpiexec",), None)
    assert len(set(client.priorities.values())) == len(set(second.priorities.values())) == 1
    assert set(client.priorities.values()).pop() > set(second.priorities.values()).pop()
    (fin_key, fin_args), = by_name["finish"]
    assert final == fin_key
    assert fin_args[3] == dried_key
    assert sorted(fin_args[4]) == sorted([*press_keys.values(), *branch_keys.values()])
    assert sorted(fin_args[5]) == sorted(k for k, _ in analyses)
