"""Multi-threaded execution: bitwise-identical outputs for any thread count (host and
qemu-aarch64), the NULL pool, the default pool, an app's own pool, and the API."""

from __future__ import annotations

import ctypes
import shutil

import numpy as np
import pytest
import torch
from torch import nn

import patdnn
from patdnn.errors import PatdnnError
from patdnn.runtime.threads import entry_llvm_ir, pool_abi

THREADS = (1, 2, 3, 4, 8)

needs_aarch64_tools = pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-gcc") is None or shutil.which("qemu-aarch64") is None,
    reason="needs aarch64-linux-gnu-gcc and qemu-aarch64",
)


def _pattern_pruned(conv: nn.Conv2d) -> None:
    """Keeps 4 taps of one of two patterns in about half of the kernels."""
    patterns = (((0, 1), (1, 0), (1, 1), (1, 2)), ((1, 0), (1, 1), (1, 2), (2, 1)))
    mask = torch.zeros_like(conv.weight)
    for o in range(mask.shape[0]):
        for i in range(mask.shape[1]):
            if (o * 7 + i * 3) % 5 < 3:
                for r, c in patterns[(o + i) % 2]:
                    mask[o, i, r, c] = 1
    with torch.no_grad():
        conv.weight.mul_(mask)


class Residual(nn.Module):
    """Odd sizes, a pattern-pruned layer, a stride-2 layer, a residual add, depthwise
    (stride 1, and 2 with 4 filters a channel), pointwise (one whose last 4 pixels are
    dot products on 16 lanes), pooling and a linear layer: every kernel family splits into tasks."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 12, 3, padding=1)
        self.pattern = nn.Conv2d(12, 12, 3, padding=1)
        _pattern_pruned(self.pattern)
        self.down = nn.Conv2d(12, 20, 3, stride=2, padding=1)
        self.depthwise = nn.Conv2d(20, 20, 3, padding=1, groups=20)
        self.pointwise = nn.Conv2d(20, 20, 1)
        self.depthwise2 = nn.Conv2d(20, 80, 3, stride=2, padding=1, groups=20)
        self.pointwise2 = nn.Conv2d(80, 24, 1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(24, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.relu(self.stem(x))
        a = torch.relu(self.pattern(a) + a)
        a = torch.relu(self.down(a))
        a = self.pointwise(torch.relu(self.depthwise(a))) + a
        a = self.pointwise2(torch.relu(self.depthwise2(a)))
        a = self.pool(a)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(a, 1), 1))


SHAPE = (1, 3, 19, 13)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    return Residual().eval()


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)


@pytest.fixture(scope="module")
def reference(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.fixture(scope="module")
def compiled(model: nn.Module, x: np.ndarray) -> patdnn.CompiledModel:
    return patdnn.compile(model, torch.from_numpy(x), num_threads=2, name="res")


def _check_threads(compiled: patdnn.CompiledModel, x: np.ndarray, ref: np.ndarray) -> None:
    outputs = {}
    for n in THREADS:
        compiled.num_threads = n
        outputs[n] = compiled(x)
        np.testing.assert_allclose(outputs[n], ref, rtol=1e-4, atol=1e-5)
    for n in THREADS[1:]:
        assert outputs[n].tobytes() == outputs[1].tobytes(), f"{n} threads differ from 1"


def test_host_bitwise_identical(
    compiled: patdnn.CompiledModel, x: np.ndarray, reference: np.ndarray
) -> None:
    assert compiled.num_threads == 2
    kinds = {layer.kind for layer in compiled.layers}
    assert "pattern conv" in kinds
    _check_threads(compiled, x, reference)


@needs_aarch64_tools
def test_aarch64_bitwise_identical(model: nn.Module, x: np.ndarray, reference: np.ndarray) -> None:
    compiled = patdnn.compile(model, torch.from_numpy(x), target="aarch64")
    _check_threads(compiled, x, reference)


def test_null_pool_and_an_apps_pool(
    compiled: patdnn.CompiledModel, x: np.ndarray, tmp_path
) -> None:
    """The saved shared library called with pool = NULL and with a pool written in
    Python (every task run in reverse order): the same bits as the default pool."""
    compiled.num_threads = 3
    expected = compiled(x)
    out = compiled.save(tmp_path)
    if not (out / "res.so").exists():
        pytest.skip("no C compiler to link the shared library")
    lib = ctypes.CDLL(str(out / "res.so"))
    lib.forward.argtypes = [ctypes.c_void_p] * 5
    weights = compiled.weights
    workspace_bytes = compiled.signature.workspace.nbytes  # type: ignore[union-attr]
    raw = np.zeros(workspace_bytes + 64, np.uint8)
    workspace = raw[(-raw.ctypes.data) % 64 :]

    def run(pool: object) -> np.ndarray:
        y = np.zeros(expected.shape, np.float32)
        lib.forward(x.ctypes.data, y.ctypes.data, weights.ctypes.data, workspace.ctypes.data, pool)
        return y

    assert run(None).tobytes() == expected.tobytes()

    task_fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t)
    counts: list[int] = []

    @ctypes.CFUNCTYPE(None, ctypes.c_void_p, task_fn, ctypes.c_void_p, ctypes.c_size_t)
    def parallel_for(context: int, task: object, task_context: int, count: int) -> None:
        counts.append(count)
        for i in reversed(range(count)):
            task(task_context, i)  # type: ignore[operator]

    class Pool(ctypes.Structure):
        _fields_ = [("parallel_for", type(parallel_for)), ("context", ctypes.c_void_p)]

    pool = Pool(parallel_for, None)
    assert run(ctypes.addressof(pool)).tobytes() == expected.tobytes()
    # Every layer is split: several tasks in most phases.
    assert len(counts) >= 8 and max(counts) >= 8


def test_load_num_threads(compiled: patdnn.CompiledModel, x: np.ndarray, tmp_path) -> None:
    compiled.num_threads = 1
    expected = compiled(x)
    loaded = patdnn.load(compiled.save(tmp_path), num_threads=3)
    assert loaded.num_threads == 3
    assert loaded(x).tobytes() == expected.tobytes()


@pytest.mark.parametrize("bad", [0, -1, 2.5, "2", True, 10_000])
def test_bad_thread_counts(model: nn.Module, x: np.ndarray, bad: object) -> None:
    with pytest.raises(PatdnnError, match="num_threads must be"):
        patdnn.compile(model, torch.from_numpy(x), num_threads=bad)  # type: ignore[arg-type]


def test_entry_point_and_abi() -> None:
    ir = entry_llvm_ir("forward", 4, [("forward_task0", 3), ("forward_task1", 16)])
    assert "define void @forward(ptr %a0, ptr %a1, ptr %a2, ptr %a3, ptr %pool)" in ir
    assert "ptr @forward_task1.thunk, ptr %record, i64 16)" in ir
    abi = pool_abi()
    assert "typedef struct patdnn_pool" in abi and "parallel_for" in abi
    with pytest.raises(PatdnnError, match="no tasks"):
        entry_llvm_ir("forward", 4, [])


def test_batch_of_two_bitwise_identical() -> None:
    """Two images share one scratch copy in turn: each image has its own phases."""
    torch.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 5, 3, stride=2, padding=1)
    ).eval()
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 11)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    _check_threads(patdnn.compile(model, torch.from_numpy(x), keep_stages=False), x, ref)


class MobileLayers(nn.Module):
    """The layers of MobileNet-V3 and of encoder-decoders at odd sizes and widths that
    are no multiple of 8: hardswish and hardsigmoid (fused and on their own), a
    squeeze-and-excitation scale (`scale * x`), a product of two tensors, nearest
    upsampling (2x2 and 2x3) and a three-way channel concat."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.down = nn.Conv2d(6, 7, 3, stride=2, padding=1)
        self.fc1 = nn.Conv2d(7, 5, 1)
        self.fc2 = nn.Conv2d(5, 7, 1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.head = nn.Conv2d(20, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = nn.functional.hardswish(self.stem(x))
        d = torch.relu(self.down(s))
        pooled = nn.functional.adaptive_avg_pool2d(d, 1)
        scale = nn.functional.hardsigmoid(self.fc2(torch.relu(self.fc1(pooled))))
        u = self.up(scale * d)
        v = nn.functional.interpolate(d, scale_factor=2, mode="nearest")
        z = nn.functional.hardswish(torch.cat([s, u, v], dim=1))
        y = self.head(z)
        y = y * nn.functional.hardsigmoid(y)
        return nn.functional.interpolate(y, scale_factor=(2, 3), mode="nearest")


MOBILE_PLANE = (3, 18, 22)


@pytest.fixture(scope="module", params=[1, 2], ids=["batch1", "batch2"])
def mobile(request: pytest.FixtureRequest) -> tuple[nn.Module, np.ndarray, np.ndarray]:
    """Batch 1: the concat's three inputs are written in place into its buffer (the
    stem's output read from there by the next layer); batch 2: they are copied."""
    torch.manual_seed(3)
    model = MobileLayers().eval()
    shape = (request.param, *MOBILE_PLANE)
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    return model, x, ref


def test_mobile_layers_host_bitwise_identical(
    mobile: tuple[nn.Module, np.ndarray, np.ndarray],
) -> None:
    model, x, ref = mobile
    compiled = patdnn.compile(model, torch.from_numpy(x), keep_stages=True)
    text = compiled.mlir("convert-torch-to-patdnn")
    for op in ("patdnn.activate", "patdnn.mul", "patdnn.concat", "patdnn.upsample"):
        assert op in text, op
    assert (
        "activation = #patdnn.activation<hardswish>" in text
        and "activation = #patdnn.activation<hardsigmoid>" in text
    )
    _check_threads(compiled, x, ref)


@needs_aarch64_tools
def test_mobile_layers_aarch64_bitwise_identical(
    mobile: tuple[nn.Module, np.ndarray, np.ndarray],
) -> None:
    model, x, ref = mobile
    compiled = patdnn.compile(model, torch.from_numpy(x), target="aarch64", keep_stages=False)
    _check_threads(compiled, x, ref)


POOL_STRESS = r"""
#include "patdnn_pool.h"
#include <stdatomic.h>
#include <stdio.h>

#define JOBS 20000
#define MOST 40
typedef struct { int job; atomic_int hits[MOST]; } job_t;
static job_t jobs[2];
static atomic_int current;
static atomic_int wrong;

#define BIG 300000 /* more tasks than a range holds (2^18 - 1): run in chunks */
static atomic_uchar big[BIG];

static void big_task(void *context, size_t i) {
    (void)context;
    atomic_fetch_add(&big[i], 1);
}

static void task(void *context, size_t i) {
    job_t *j = context;
    if (j->job != atomic_load(&current)) atomic_fetch_add(&wrong, 1);
    volatile int spin = 0;
    for (int k = 0; k < (int)(i * 37 % 200); k++) spin += k;
    atomic_fetch_add(&j->hits[i], 1);
}

int main(void) {
    patdnn_pool *pool = patdnn_pool_create(8);
    if (pool == NULL) return 2;
    unsigned seed = 1;
    for (int n = 0; n < JOBS; n++) {
        seed = seed * 1103515245u + 12345u;
        size_t count = 2 + (seed >> 16) % (MOST - 1);
        job_t *j = &jobs[n % 2];
        j->job = n;
        for (int i = 0; i < MOST; i++) atomic_store(&j->hits[i], 0);
        atomic_store(&current, n);
        pool->parallel_for(pool->context, task, j, count);
        for (size_t i = 0; i < MOST; i++) {
            if (atomic_load(&j->hits[i]) != (i < count ? 1 : 0)) {
                printf("job %d task %zu ran %d times\n", n, i, atomic_load(&j->hits[i]));
                return 1;
            }
        }
    }
    pool->parallel_for(pool->context, big_task, NULL, BIG);
    for (size_t i = 0; i < BIG; i++) {
        if (atomic_load(&big[i]) != 1) {
            printf("task %zu of a job of %d ran %d times\n", i, BIG, atomic_load(&big[i]));
            return 1;
        }
    }
    patdnn_pool_destroy(pool);
    if (atomic_load(&wrong)) {
        printf("%d tasks ran after their job returned\n", atomic_load(&wrong));
        return 1;
    }
    puts("ok");
    return 0;
}
"""


def test_default_pool_runs_each_task_once_per_job(tmp_path) -> None:
    """8 threads on fewer cores, 20000 jobs of 2-40 uneven tasks back to back: every task
    runs exactly once, before parallel_for returns, and a worker that arrives late
    (each yields the CPU between reading a job and claiming its tasks) never runs a
    task of the next job with the last job's arguments; a job of 300000 tasks (more
    than a thread's range holds) runs each once."""
    import subprocess

    from patdnn.runtime.threads import POOL_HEADER, POOL_SOURCE

    cc = shutil.which("cc")
    if cc is None:
        pytest.skip("needs a C compiler")
    source = tmp_path / "stress.c"
    source.write_text(POOL_STRESS)
    binary = tmp_path / "stress"
    subprocess.run(
        [cc, "-O2", "-std=c11", "-pthread", "-D_DEFAULT_SOURCE", f"-I{POOL_HEADER.parent}",
         "-DPATDNN_POOL_LATE()=sched_yield()", "-include", "sched.h", str(source),
         str(POOL_SOURCE), "-o", str(binary)],
        check=True,
    )  # fmt: skip
    result = subprocess.run([str(binary)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stdout


class TallLayers(nn.Module):
    """Stride-1 layers of enough rows that every tile task copies its own input rows
    (`ConvGenerator.copies_in_tasks`): odd height, a width that is no multiple of the
    vector width, padding 1 and 0, a pattern-pruned layer with an empty filter."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(4, 6, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.pattern = nn.Conv2d(6, 8, 3, padding=0)
        _pattern_pruned(self.pattern)
        with torch.no_grad():
            self.pattern.weight[3].zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pattern(self.relu(self.first(x)))


def _task_phases(compiled: patdnn.CompiledModel) -> int:
    return compiled.llvm_ir.count(".thunk(ptr %record, i64 %task) {")


@pytest.fixture(scope="module", params=[1, 2], ids=["batch1", "batch2"])
def tall(request: pytest.FixtureRequest) -> tuple[nn.Module, np.ndarray, np.ndarray]:
    torch.manual_seed(4)
    model = TallLayers().eval()
    x = np.random.default_rng(4).standard_normal((request.param, 4, 197, 21)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    return model, x, ref


def test_copies_in_tasks_host(
    tall: tuple[nn.Module, np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One phase per layer and image (no copy phase), the bits of the build with the copy
    phase, for any thread count; 16 threads run all the tasks of a phase at once, which
    two tasks writing one scratch slice would not survive."""
    import functools

    import patdnn.lowering.pipeline as pipeline
    from patdnn.lowering.lower_patdnn_to_vector import LowerPatdnnToVectorPass

    model, x, ref = tall
    fused = patdnn.compile(model, torch.from_numpy(x), keep_stages=False)
    without = functools.partial(LowerPatdnnToVectorPass, fused_copy=False)
    monkeypatch.setattr(pipeline, "LowerPatdnnToVectorPass", without)
    separate = patdnn.compile(model, torch.from_numpy(x), keep_stages=False)
    images = x.shape[0]
    assert _task_phases(fused) == 2 * images and _task_phases(separate) == 4 * images
    _check_threads(fused, x, ref)
    _check_all_at_once(fused, x, separate(x).tobytes())


def _check_all_at_once(compiled: patdnn.CompiledModel, x: np.ndarray, expected: bytes) -> None:
    """16 threads, which run every task of a phase at once, give `expected`, 5 times."""
    compiled.num_threads = 16
    for _ in range(5):
        assert compiled(x).tobytes() == expected


@needs_aarch64_tools
def test_copies_in_tasks_aarch64(tall: tuple[nn.Module, np.ndarray, np.ndarray]) -> None:
    model, x, ref = tall
    compiled = patdnn.compile(model, torch.from_numpy(x), target="aarch64", keep_stages=False)
    _check_threads(compiled, x, ref)


def _claiming(target: str, model: nn.Module, x: np.ndarray) -> patdnn.CompiledModel:
    """`model` compiled with `slice-claims=2`: every layer that copies its rows in its
    tasks claims a free scratch slice, however small its slices."""
    import functools

    import patdnn.lowering.pipeline as pipeline

    lowering = pipeline.LowerPatdnnToVectorPass
    pipeline.LowerPatdnnToVectorPass = functools.partial(lowering, slice_claims=2)  # type: ignore[misc]
    try:
        return patdnn.compile(model, torch.from_numpy(x), target=target, keep_stages=False)
    finally:
        pipeline.LowerPatdnnToVectorPass = lowering  # type: ignore[misc]


def test_slice_claims_host(tall: tuple[nn.Module, np.ndarray, np.ndarray]) -> None:
    """Tasks that take the first free slice compute the bits of tasks that each write
    their own, at any thread count: 16 threads run every task of a phase at once, so a
    slice that two tasks held together would show. The claims are an atomic `or` and
    an atomic exchange (the `memref.atomic_rmw` kinds of `Emitter.atomic`), and a phase
    of one task per layer clears them."""
    model, x, ref = tall
    own = patdnn.compile(model, torch.from_numpy(x), keep_stages=False)
    claiming = _claiming("host", model, x)
    assert "atomicrmw or" in claiming.llvm_ir and "atomicrmw xchg" in claiming.llvm_ir
    assert "atomicrmw" not in own.llvm_ir  # slices this small are not claimed by default
    assert _task_phases(claiming) == _task_phases(own) + 2
    _check_threads(claiming, x, ref)
    _check_all_at_once(claiming, x, own(x).tobytes())


@needs_aarch64_tools
def test_slice_claims_aarch64(tall: tuple[nn.Module, np.ndarray, np.ndarray]) -> None:
    model, x, ref = tall
    _check_threads(_claiming("aarch64", model, x), x, ref)


class UnevenFilters(nn.Module):
    """A pattern layer whose filters keep 4, 1 and 1 kernels: its tasks are split by
    their work (`tasks.balanced_split`), not by the count of rows and filters (the two
    differ at 14 rows with the AVX2 tiles, 6 tasks instead of 9, and at 17 with the
    aarch64 ones, 6 instead of 9)."""

    def __init__(self) -> None:
        super().__init__()
        self.pattern = nn.Conv2d(4, 3, 3, padding=1)
        mask = torch.zeros_like(self.pattern.weight)
        for o, kept in enumerate((4, 1, 1)):
            for i in range(kept):
                for r, c in ((0, 1), (1, 0), (1, 1), (1, 2)):
                    mask[o, i, r, c] = 1
        with torch.no_grad():
            self.pattern.weight.mul_(mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pattern(x))


@pytest.fixture(scope="module", params=[5, 14, 17], ids=["h5", "h14", "h17"])
def uneven(request: pytest.FixtureRequest) -> tuple[nn.Module, np.ndarray, np.ndarray]:
    torch.manual_seed(5)
    model = UnevenFilters().eval()
    x = np.random.default_rng(5).standard_normal((1, 4, request.param, 11)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    return model, x, ref


def test_uneven_filters_host_bitwise_identical(
    uneven: tuple[nn.Module, np.ndarray, np.ndarray],
) -> None:
    model, x, ref = uneven
    _check_threads(patdnn.compile(model, torch.from_numpy(x), keep_stages=False), x, ref)


@needs_aarch64_tools
def test_uneven_filters_aarch64_bitwise_identical(
    uneven: tuple[nn.Module, np.ndarray, np.ndarray],
) -> None:
    model, x, ref = uneven
    compiled = patdnn.compile(model, torch.from_numpy(x), target="aarch64", keep_stages=False)
    _check_threads(compiled, x, ref)


class _Pointwise(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)
        self.relu = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x))


@pytest.mark.parametrize("target", ["host", pytest.param("aarch64", marks=needs_aarch64_tools)])
@pytest.mark.parametrize(
    ("cin", "cout", "h", "w", "batch"), [(33, 20, 7, 7, 1), (97, 37, 14, 14, 2)]
)
@pytest.mark.parametrize("panels", [0, 2])
def test_channel_tile_pixel_ranges_bitwise_identical(
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    cin: int,
    cout: int,
    h: int,
    w: int,
    batch: int,
    panels: int,
) -> None:
    """The tile over output channels (`channel-tiles=2`) of a layer of few channel tiles
    splits its pixels too: a pixel range's last tiles store exactly, so no task writes
    another's pixels, and every thread count gives the same bits; with `channel-panels=2`
    the pack's tasks each write the panels of their own pixel tiles."""
    import functools

    import patdnn.lowering.pipeline as pipeline

    lowering = pipeline.LowerPatdnnToVectorPass
    monkeypatch.setattr(
        pipeline,
        "LowerPatdnnToVectorPass",
        functools.partial(lowering, channel_tiles=2, channel_panels=panels),
    )
    torch.manual_seed(cin + cout)
    model = _Pointwise(cin, cout).eval()
    x = np.random.default_rng(cin).standard_normal((batch, cin, h, w)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    compiled = patdnn.compile(model, torch.from_numpy(x), target=target, vector_width=8)
    _check_threads(compiled, x, ref)
