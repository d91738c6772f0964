"""Beyond one machine: the search binary joins a two-node Ray cluster by address.

``ray.cluster_utils.Cluster`` starts a head node and a second node on this
machine, each with one CPU, as separate raylets (each with its own node id,
object store and workers), the way ``ray start --head`` and ``ray start
--address=...`` would on two machines. The binary connects with
``--ray_address``, the same path a real cluster uses (the project's packages are
shipped to the workers as runtime_env ``py_modules``); trials must land on
both nodes, which each trial records in ``metrics["node_id"]``.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import binary_helpers  # noqa: E402


@pytest.fixture
def two_node_cluster():
    from ray.cluster_utils import Cluster

    # Both nodes use this machine's address: Ray resolves 127.0.0.1 to it anyway
    # (services.resolve_ip_for_localhost), and a driver must see its own node's IP.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1,
                                                            "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster
    finally:
        cluster.shutdown()


def test_a_search_runs_trials_on_both_nodes_of_a_cluster(tmp_path, two_node_cluster):
    node_ids = {node.node_id for node in two_node_cluster.list_all_nodes()}
    assert len(node_ids) == 2
    workdir = str(tmp_path / "search")
    done = binary_helpers.run(
        ["--experiment=synthetic", f"--workdir={workdir}", "--budget=8",
         f"--ray_address={two_node_cluster.address}", "--cpus_per_trial=1",
         "--config_override=synthetic.seconds=1.5"])
    assert done.returncode == 0, done.stdout
    assert f"Ray cluster at {two_node_cluster.address}: 2 concurrent trial(s)" in done.stdout
    records = binary_helpers.records(workdir)
    ran_on = {r["metrics"]["node_id"] for r in records.values() if r["status"] == "ok"}
    assert ran_on == node_ids
    assert sum(r["status"] == "ok" for r in records.values()) == 8
