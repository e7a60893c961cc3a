"""Device plugins: the placement rule, the mock cuda plugin, and kernels given devices (fake
backend): in the container's environment and labels, freed at destroy, taken back after a
restart, and never through the warm pool."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backendai.agent.backends.fake import FakeBackend
from backendai.agent.devices import ENTRY_POINT_GROUP, load_devices, plugin_factories
from backendai.agent.devices.mock_cuda import MockCudaPlugin
from backendai.agent.devices.plugin import DeviceAllocationFailed
from backendai.agent.layout import LABEL_DEVICES
from backendai.agent.main import create_app
from backendai.agent.pool import WarmPool
from backendai.agent.resources import Capacity
from backendai.agent.server import CONTEXT_KEY
from backendai.common.agent_protocol import AgentHeartbeat, KernelCreateRequest
from backendai.common.devices import Device, place, spread
from tests.agent.conftest import HEADERS, create_body, make_settings

D = Decimal
GIB = 2**30
CAPACITY = Capacity(cpu=4, mem=8 * GIB, cores=[0, 1, 2, 3])


def devices(*free: str) -> list[Device]:
    return [Device(str(i), D(1), D(f)) for i, f in enumerate(free)]


# --- the placement rule --------------------------------------------------------------------


def test_a_fraction_goes_on_one_device_never_split() -> None:
    # 0.3 + 0.3 free in total is 0.6, yet 0.4 fits on neither device.
    assert place(devices("0.3", "0.3"), D(0), D("0.4")) is None
    assert place(devices("0.3", "0.5"), D(0), D("0.4")) == {"1": D("0.4")}


def test_a_fraction_goes_where_least_is_free_that_fits() -> None:
    # Best fit keeps the untouched device whole for a whole-device request.
    assert place(devices("1", "0.6"), D(0), D("0.4")) == {"1": D("0.4")}
    assert place(devices("1", "1"), D(0), D("0.4")) == {"0": D("0.4")}


def test_whole_devices_are_only_unused_ones() -> None:
    assert place(devices("1", "0.9", "1"), D(2), D(0)) == {"0": D(1), "2": D(1)}
    assert place(devices("1", "0.9"), D(2), D(0)) is None
    assert place(devices("1", "1"), D("1.5"), D(0)) is None  # not a whole number


def test_shares_above_one_device_take_whole_ones_and_the_rest_on_one() -> None:
    assert place(devices("1", "0.7", "1"), D(0), D("1.5")) == {"0": D(1), "1": D("0.5")}
    assert place(devices("0.7", "0.7"), D(0), D("1.2")) is None


def test_spread_reads_back_what_place_gave() -> None:
    state = devices("1", "0.7", "1")
    for whole, shares in ((D(0), D("0.4")), (D(0), D("1.5")), (D(1), D("0.5"))):
        given = place(state, whole, shares)
        assert given is not None
        assert spread(state, list(given), whole, shares) == given


# --- the plugins ---------------------------------------------------------------------------


def test_plugins_are_registered_as_entry_points() -> None:
    from importlib.metadata import entry_points

    assert {"cpu", "mem", "cuda"} <= {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    assert {"cpu", "mem", "cuda"} <= set(plugin_factories())


def test_without_the_setting_only_cpu_and_mem(short_dir: Path) -> None:
    found = load_devices(make_settings(short_dir), CAPACITY)
    assert [p.key for p in found.plugins] == ["cpu", "mem"]
    assert found.available_slots() == {"cpu": "4", "mem": str(8 * GIB)}
    assert found.reports() == {}


def test_mock_cuda_offers_whole_and_fractional_slots(short_dir: Path) -> None:
    settings = make_settings(short_dir, mock_cuda_devices=2, mock_cuda_memory=8 * GIB)
    found = load_devices(settings, CAPACITY)
    assert found.available_slots() == {
        "cpu": "4", "mem": str(8 * GIB), "cuda.device": "2", "cuda.shares": "2",
    }  # fmt: skip
    report = found.reports()["cuda"]
    assert (report.device_slot, report.share_slot) == ("cuda.device", "cuda.shares")
    assert [(d.id, d.capacity, d.free, d.memory) for d in report.devices] == [
        ("0", "1", "1", 8 * GIB), ("1", "1", "1", 8 * GIB),
    ]  # fmt: skip


def test_mock_cuda_allocates_reports_and_releases() -> None:
    plugin = MockCudaPlugin(1, 10 * GIB)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert plugin.allocate(a, {"cuda.shares": D("0.4")}) == {"0": D("0.4")}
    assert plugin.allocate(a, {"cuda.shares": D("0.4")}) == {"0": D("0.4")}  # a retry
    assert plugin.allocate(b, {"cuda.shares": D("0.4")}) == {"0": D("0.4")}
    with pytest.raises(DeviceAllocationFailed, match=r"at most 0\.2 free on any one device"):
        plugin.allocate(c, {"cuda.shares": D("0.4")})
    report = plugin.report()
    assert report is not None and report.devices[0].free == "0.2"
    plugin.release(a)
    assert plugin.allocate(c, {"cuda.shares": D("0.4")}) == {"0": D("0.4")}
    env = plugin.container_config({"0": D("0.4")}).env
    assert env == {
        "MOCK_CUDA_VISIBLE_DEVICES": "0",
        "MOCK_CUDA_SHARES": "0:0.4",
        "MOCK_CUDA_MEMORY": f"0:{int(10 * GIB * D('0.4'))}",
    }


def test_heartbeat_carries_the_devices(short_dir: Path) -> None:
    found = load_devices(make_settings(short_dir, mock_cuda_devices=1), CAPACITY)
    hb = AgentHeartbeat(
        agent_id="a", addr="http://x", version="1", containers=[], images=[],
        available_slots=found.available_slots(), compute_plugins=found.reports(),
    )  # fmt: skip
    doc = AgentHeartbeat.model_validate_json(hb.model_dump_json())
    assert doc.compute_plugins["cuda"].devices[0].free == "1"
    assert doc.available_slots["cuda.shares"] == "1"


def test_a_kernel_with_devices_never_takes_a_pool_container(short_dir: Path) -> None:
    settings = make_settings(short_dir, pool_size=1)
    pool = WarmPool.__new__(WarmPool)
    pool.settings = settings
    plain = KernelCreateRequest.model_validate(create_body())
    gpu = KernelCreateRequest.model_validate(
        create_body(slots={"cpu": "1", "mem": str(2**29), "cuda.shares": "0.4"})
    )
    assert pool.claimable(plain)
    assert not pool.claimable(gpu)


# --- kernels given devices (fake backend) ------------------------------------------------


def gpu_body(shares: str) -> dict[str, object]:
    return create_body(slots={"cpu": "1", "mem": str(512 * 2**20), "cuda.shares": shares})


async def test_kernels_get_devices_and_give_them_back(short_dir: Path) -> None:
    backend = FakeBackend()
    settings = make_settings(short_dir, mock_cuda_devices=1, mock_cuda_memory=10 * GIB)
    app = create_app(settings, backend)
    async with TestClient(TestServer(app)) as client:
        registry = app[CONTEXT_KEY].registry
        made = []
        for _ in range(2):
            resp = await client.post("/v1/kernels", json=gpu_body("0.4"), headers=HEADERS)
            assert resp.status == 200, await resp.text()
            made.append(await resp.json())
        assert made[0]["attached_devices"] == {"cuda": ["0"]}
        spec = backend.containers[made[0]["container_id"]].spec
        assert spec.env["MOCK_CUDA_VISIBLE_DEVICES"] == "0"
        assert spec.env["MOCK_CUDA_SHARES"] == "0:0.4"
        assert '"0": "0.4"' in spec.labels[LABEL_DEVICES]
        assert registry.devices.reports()["cuda"].devices[0].free == "0.2"
        # A third does not fit on the device: refused, nothing left behind.
        resp = await client.post("/v1/kernels", json=gpu_body("0.4"), headers=HEADERS)
        assert resp.status == 500
        assert "device-allocation-failed" in (await resp.json())["type"]
        assert len(backend.containers) == 2
        resp = await client.delete(f"/v1/kernels/{made[0]['kernel_id']}", headers=HEADERS)
        assert resp.status == 200
        assert registry.devices.reports()["cuda"].devices[0].free == "0.6"
    # A restarted agent takes the allocation back from the container's labels.
    app = create_app(settings, backend)
    async with TestClient(TestServer(app)) as client:
        registry = app[CONTEXT_KEY].registry
        assert registry.devices.reports()["cuda"].devices[0].free == "0.6"
        kernel = registry.get(uuid.UUID(made[1]["kernel_id"]))
        assert kernel.created().attached_devices == {"cuda": ["0"]}
        await client.delete(f"/v1/kernels/{made[1]['kernel_id']}", headers=HEADERS)
        assert registry.devices.reports()["cuda"].devices[0].free == "1"
    await backend.close()
