"""FrameSync pairing, ring and waiting, driven with plain strings as stand-in messages.

camera_info pairs by stamp (within slop of the colour stamp): ``with_info`` makes a synchroniser
fed like a camera driver that publishes the same camera_info ("info0") with every colour image.
"""

from __future__ import annotations

import threading
import time

import pytest

from roborefer_ros.core.frame_sync import FrameSync, SyncedSet

MS = 1_000_000  # ns per millisecond


def make(
    slop_s: float = 0.02, ring_size: int = 8, queue_size: int = 10, info: str | None = None
) -> FrameSync[str, str, str]:
    """A synchroniser; with ``info`` it has already received that camera_info at stamp 0."""
    sync: FrameSync[str, str, str] = FrameSync(slop_s, ring_size, queue_size)
    if info is not None:
        sync.add_info(0, info)
    return sync


class InfoWithEveryColour(FrameSync[str, str, str]):
    """A camera driver's stream: camera_info "info0" stamped like each colour image, sent first."""

    def add_color(self, stamp_ns: int, msg: str) -> None:
        self.add_info(stamp_ns, "info0")
        super().add_color(stamp_ns, msg)


def with_info(
    slop_s: float = 0.02, ring_size: int = 8, queue_size: int = 10
) -> FrameSync[str, str, str]:
    return InfoWithEveryColour(slop_s, ring_size, queue_size)


def pair(sync: FrameSync[str, str, str], ms: int) -> None:
    sync.add_color(ms * MS, f"c{ms}")
    sync.add_depth(ms * MS, f"d{ms}")


def stamps(sync: FrameSync[str, str, str]) -> list[int]:
    """All buffered stamps in ms, via select (earliest at/after each candidate)."""
    out: list[int] = []
    s = sync.select(1)
    while s is not None:
        out.append(s.stamp_ns // MS)
        s = sync.select(s.stamp_ns + 1)
    return out


def test_pairs_within_slop_with_colour_stamp() -> None:
    sync = with_info()
    sync.add_color(100 * MS, "c100")
    sync.add_depth(115 * MS, "d115")
    assert sync.latest() == SyncedSet(100 * MS, "c100", "d115", "info0")


def test_does_not_pair_outside_slop() -> None:
    sync = with_info()
    sync.add_color(100 * MS, "c100")
    sync.add_depth(121 * MS, "d121")
    assert sync.latest() is None
    assert sync.stats().pairs_emitted == 0


def test_slop_boundary_is_inclusive() -> None:
    sync = with_info(slop_s=0.02)
    sync.add_depth(100 * MS, "d100")
    sync.add_color(120 * MS, "c120")
    latest = sync.latest()
    assert latest is not None and latest.depth == "d100"


def test_nearest_partner_wins() -> None:
    sync = with_info()
    sync.add_depth(100 * MS, "d100")
    sync.add_depth(130 * MS, "d130")  # 30 ms apart: neither pairs with the other stream yet
    sync.add_color(118 * MS, "c118")  # within slop of both; d130 is 12 ms away, d100 18 ms
    latest = sync.latest()
    assert latest is not None
    assert (latest.color, latest.depth) == ("c118", "d130")


def test_equal_distance_prefers_the_earlier_partner() -> None:
    sync = with_info()
    sync.add_depth(100 * MS, "d100")
    sync.add_depth(120 * MS, "d120")
    sync.add_color(110 * MS, "c110")
    latest = sync.latest()
    assert latest is not None and latest.depth == "d100"


def test_each_message_is_used_once() -> None:
    sync = with_info()
    sync.add_color(100 * MS, "c100")
    sync.add_depth(100 * MS, "d100")
    sync.add_color(105 * MS, "c105")  # its only candidate was consumed
    assert sync.stats().pairs_emitted == 1
    assert sync.stats().queued_color == 1


def test_depth_stream_ahead_of_colour_stream() -> None:
    sync = with_info()
    for ms in (100, 133, 166):  # depth arrives three frames before colour
        sync.add_depth(ms * MS, f"d{ms}")
    for ms in (100, 133, 166):
        sync.add_color(ms * MS, f"c{ms}")
    assert stamps(sync) == [100, 133, 166]
    first = sync.select(1)
    assert first is not None and (first.color, first.depth) == ("c100", "d100")


def test_hopeless_messages_are_dropped() -> None:
    sync = with_info()
    sync.add_color(100 * MS, "c100")
    sync.add_depth(200 * MS, "d200")  # depth has moved on: c100 can never pair now
    stats = sync.stats()
    assert (stats.dropped_color, stats.queued_color, stats.queued_depth) == (1, 0, 1)
    sync.add_depth(105 * MS, "d105")  # its partner is gone; a later colour could still match
    assert sync.latest() is None
    assert (sync.stats().queued_depth, sync.stats().dropped_depth) == (2, 0)
    sync.add_color(110 * MS, "c110")
    latest = sync.latest()
    assert latest is not None and (latest.color, latest.depth) == ("c110", "d105")


def test_queues_are_bounded() -> None:
    sync = with_info(queue_size=3)
    for ms in range(5):
        sync.add_color(ms * 100 * MS, f"c{ms}")
    stats = sync.stats()
    assert (stats.queued_color, stats.dropped_color, stats.color_received) == (3, 2, 5)


def test_no_emit_before_info_then_pairs_get_the_first_info() -> None:
    sync = make()
    pair(sync, 100)
    assert sync.latest() is None
    assert sync.wait_select(0, timeout_s=0.01) is None
    sync.add_info(90 * MS, "infoA")  # within slop of the pair's stamp
    assert sync.latest() == SyncedSet(100 * MS, "c100", "d100", "infoA")


def test_camera_info_pairs_by_stamp_not_by_arrival() -> None:
    """Each frame gets the camera_info stamped like it, whatever arrived last."""
    sync = make()
    sync.add_info(100 * MS, "infoA")
    sync.add_info(30 * MS, "stray")  # older, after the frame's own, before its images
    pair(sync, 100)
    sync.add_info(200 * MS, "infoB")
    sync.add_info(130 * MS, "stray")
    pair(sync, 200)
    sync.add_info(50 * MS, "stray")  # and one after both frames
    first, second, latest = sync.select(1), sync.select(101 * MS), sync.latest()
    assert first is not None and second is not None and latest is not None
    assert (first.info, second.info, latest.info) == ("infoA", "infoB", "infoB")


def test_a_stray_older_camera_info_is_never_applied_to_a_newer_frame() -> None:
    """Frames whose own camera_info is missing wait for it; an older one (beyond slop) is not
    used in its place, and a camera_info arriving after its images still pairs."""
    sync = make(slop_s=0.02)
    sync.add_info(100 * MS, "info100")
    pair(sync, 100)
    pair(sync, 200)  # its camera_info is late
    sync.add_info(60 * MS, "stray")
    latest = sync.latest()
    assert latest is not None and (latest.stamp_ns, latest.info) == (100 * MS, "info100")
    assert sync.select(101 * MS) is None
    assert sync.stats().without_info == 1
    sync.add_info(200 * MS, "info200")
    latest = sync.latest()
    assert latest is not None and (latest.stamp_ns, latest.info) == (200 * MS, "info200")
    assert sync.stats().without_info == 0


def test_camera_info_within_slop_pairs_the_nearest() -> None:
    sync = make(slop_s=0.02)
    sync.add_info(85 * MS, "info85")
    sync.add_info(110 * MS, "info110")
    sync.add_info(121 * MS, "info121")
    pair(sync, 100)
    got = sync.latest()
    assert got is not None and got.info == "info110"  # 10 ms away beats 15 ms; 21 ms is out


def test_camera_infos_kept_are_bounded() -> None:
    sync = make(slop_s=0.0, ring_size=3, queue_size=2)
    for ms in range(0, 1000, 10):
        sync.add_info(ms * MS, f"i{ms}")
    for ms in (940, 950, 990):  # the camera_infos kept: the last ring_size + queue_size = 5
        pair(sync, ms)
    assert stamps(sync) == [950, 990]  # 940's camera_info was forgotten
    assert sync.stats().without_info == 1


def test_select_semantics() -> None:
    sync = with_info()
    for ms in (100, 200, 300):
        pair(sync, ms)

    def sel(min_ms: int) -> int | None:
        s = sync.select(min_ms * MS)
        return None if s is None else s.stamp_ns // MS

    assert sel(0) == 300  # 0 means latest
    assert sel(1) == 100  # earliest, not latest, at/after the minimum
    assert sel(150) == 200
    assert sel(200) == 200
    assert sel(301) is None


def test_ring_evicts_oldest_and_stays_sorted() -> None:
    sync = with_info(slop_s=0.5, ring_size=3)  # a wide slop keeps late colour 200 pairable
    for ms in (100, 300, 200, 400):  # 200 is emitted after 300
        pair(sync, ms)
    assert stamps(sync) == [200, 300, 400]
    pair(sync, 50)  # older than a full ring: discarded, ring unchanged
    assert stamps(sync) == [200, 300, 400]
    assert sync.stats().buffered == 3


def test_wait_select_is_woken_by_another_thread() -> None:
    sync = with_info()
    pair(sync, 100)
    timer = threading.Timer(0.1, pair, args=(sync, 200))
    start = time.monotonic()
    timer.start()
    got = sync.wait_select(150 * MS, timeout_s=5.0)
    elapsed = time.monotonic() - start
    timer.join()
    assert got is not None and got.stamp_ns == 200 * MS
    assert 0.05 <= elapsed < 2.0


def test_wait_select_returns_buffered_set_immediately() -> None:
    sync = with_info()
    pair(sync, 100)
    start = time.monotonic()
    got = sync.wait_select(100 * MS, timeout_s=5.0)
    assert got is not None and got.color == "c100"
    assert time.monotonic() - start < 0.5


def test_wait_select_times_out_with_none() -> None:
    sync = with_info()
    pair(sync, 100)
    start = time.monotonic()
    assert sync.wait_select(101 * MS, timeout_s=0.15) is None
    assert time.monotonic() - start >= 0.15


def test_stats_report_counts_and_last_stamps() -> None:
    sync = make()
    empty = sync.stats()
    assert (empty.last_color_stamp_ns, empty.last_pair_stamp_ns) == (None, None)
    sync.add_info(7, "i")
    pair(sync, 100)
    sync.add_color(300 * MS, "c300")
    stats = sync.stats()
    assert (stats.color_received, stats.depth_received, stats.info_received) == (2, 1, 1)
    assert (stats.pairs_emitted, stats.buffered, stats.queued_color) == (1, 1, 1)
    assert stats.last_color_stamp_ns == 300 * MS
    assert stats.last_depth_stamp_ns == 100 * MS
    assert stats.last_info_stamp_ns == 7
    assert stats.last_pair_stamp_ns == 100 * MS


def test_clear_forgets_everything_including_info() -> None:
    sync = make()
    sync.add_info(100 * MS, "info100")
    sync.add_info(200 * MS, "info200")
    pair(sync, 100)
    sync.clear()
    assert sync.latest() is None
    assert sync.stats().color_received == 0
    pair(sync, 200)
    assert sync.latest() is None  # its camera_info was forgotten too: waits for a new one


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((-0.1, 8, 10), "slop_s must be >= 0, got -0.1"),
        ((0.02, 0, 10), "ring_size must be >= 1, got 0"),
        ((0.02, 8, 0), "queue_size must be >= 1, got 0"),
    ],
)
def test_constructor_validates(args: tuple[float, int, int], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        make(*args)


def test_concurrent_producers_conserve_messages() -> None:
    sync = with_info(slop_s=0.0, ring_size=4, queue_size=5)
    n = 3000
    start = threading.Barrier(2)

    def colours() -> None:
        start.wait()
        for i in range(n):
            sync.add_color(i * 33 * MS, f"c{i}")

    def depths() -> None:
        start.wait()
        for i in range(n):
            sync.add_depth(i * 33 * MS, f"d{i}")

    threads = [threading.Thread(target=colours), threading.Thread(target=depths)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    s = sync.stats()
    assert s.color_received == s.depth_received == n
    assert s.color_received == s.pairs_emitted + s.dropped_color + s.queued_color
    assert s.depth_received == s.pairs_emitted + s.dropped_depth + s.queued_depth
    assert s.pairs_emitted > 0
    ring = stamps(sync)
    assert ring == sorted(ring) and len(ring) == min(4, s.pairs_emitted)
    latest = sync.latest()
    assert latest is not None and latest.color[1:] == latest.depth[1:]  # exact pairs only


def test_a_jump_back_in_time_restarts_the_buffer() -> None:
    """A looping bag or a reset simulation: the old timeline is dropped, the new one serves."""
    sync: FrameSync[str, str, str] = FrameSync(slop_s=0.01, ring_size=4, jump_back_s=1.0)
    for t in (10_000_000_000, 10_100_000_000):
        sync.add_info(t, "info")
        sync.add_color(t, f"c{t}")
        sync.add_depth(t, f"d{t}")
    assert sync.latest() is not None and sync.latest().stamp_ns == 10_100_000_000
    # a little out of order is not a jump
    sync.add_color(9_900_000_000, "late")
    assert sync.stats().restarts == 0
    sync.add_depth(1_000_000_000, "d-new")  # the bag starts again
    sync.add_info(1_000_000_000, "info")
    sync.add_color(1_000_000_000, "c-new")
    stats = sync.stats()
    assert stats.restarts == 1
    latest = sync.latest()
    assert latest is not None and latest.stamp_ns == 1_000_000_000
    assert (latest.color, latest.depth, latest.info) == ("c-new", "d-new", "info")
    assert sync.select(2_000_000_000) is None  # nothing of the old timeline is left


def test_a_request_waiting_across_a_jump_back_still_gets_its_frame() -> None:
    """The last frame of a loop is paired and the loop restarts before the waiter wakes: the
    waiter (asked in the old timeline) still finds it; a new request does not."""
    sync: FrameSync[str, str, str] = FrameSync(slop_s=0.01, ring_size=4, jump_back_s=1.0)
    sync.add_info(1_000_000_000, "info1")
    sync.add_color(1_000_000_000, "c1")
    sync.add_depth(1_000_000_000, "d1")
    asked_in = sync.timeline  # what a request records when it starts waiting
    sync.add_info(5_000_000_000, "info-last")
    sync.add_color(5_000_000_000, "c-last")
    sync.add_depth(5_000_000_000, "d-last")
    sync.add_depth(1_000_000_000, "d-new")  # the loop restarts before the waiter re-checks
    sync.add_info(1_000_000_000, "info-new")  # camera_info jumps back too
    found = sync.select(5_000_000_000, asked_in)
    assert found is not None and (found.color, found.info) == ("c-last", "info-last")
    assert sync.select(4_000_000_000) is None  # a request made now: new timeline only
    assert sync.latest() is None


def test_a_camera_info_jumping_back_restarts_the_ring_before_the_images_do() -> None:
    """A looping bag: the new timeline's camera_info (and /tf) arrive, its images lag behind (a
    lost image waits for its repair). A new request must not get the old timeline's last frame,
    whose transforms are already forgotten; one made before the jump still may."""
    sync: FrameSync[str, str, str] = FrameSync(slop_s=0.01, ring_size=4, jump_back_s=1.0)
    last = 2_000_000_000
    sync.add_info(last, "info-last")
    sync.add_depth(last, "d-last")
    sync.add_color(last, "c-last")
    asked_before = sync.timeline
    sync.add_info(0, "info-new")  # the images of the new timeline are not here yet
    assert sync.stats().restarts == 1
    assert sync.latest() is None and sync.select(1) is None
    found = sync.select(last, asked_before)
    assert found is not None and found.color == "c-last"
    sync.add_depth(0, "d-new")  # they come: no second restart
    sync.add_color(0, "c-new")
    latest = sync.latest()
    assert latest is not None and (latest.color, latest.info) == ("c-new", "info-new")
    assert sync.stats().restarts == 1


def test_the_new_timeline_keeps_its_camera_infos_over_the_old_ones() -> None:
    """After a jump back the old timeline's camera_infos have the higher stamps; the bound on
    kept camera_infos must not drop the new ones for them."""
    sync: FrameSync[str, str, str] = FrameSync(slop_s=0.01, ring_size=2, queue_size=2)
    for k in range(10):  # the old timeline: 10 s .. 10.9 s
        t = 10_000_000_000 + k * 100_000_000
        sync.add_info(t, "old")
        pair(sync, t // MS)
    for k in range(6):  # the new one: 0 .. 0.5 s
        t = k * 100_000_000
        sync.add_info(t, "new")
        pair(sync, t // MS)
        latest = sync.latest()
        assert latest is not None and (latest.stamp_ns, latest.info) == (t, "new"), k
