#!/usr/bin/env python3
"""test_placement.py - unit tests of the thread sweep's CPU placement
(benchlib.placement, sweep_threads) and of run_all.py's choice of thread
points. Standard library only; run by `meson test` (suite unit)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import run_all  # noqa: E402


class Placement(unittest.TestCase):
    def test_two_cpus_keeps_the_fixed_layout(self):
        lay = bl.placement({0, 1})
        self.assertFalse(lay["disjoint"])
        self.assertEqual(lay["max_threads"], 2)
        # the same CPUs as the fixed 2-core layout of compare.py
        self.assertEqual(bl.proxy_cpus(1, lay), bl.CPU_PROXY)
        self.assertEqual(bl.proxy_cpus(2, lay), bl.CPU_PROXY_2T)
        self.assertEqual(bl.cpu_text(lay["load"]), bl.CPU_LOAD)
        self.assertEqual(bl.cpu_text(lay["origin"]), bl.CPU_LOAD)
        self.assertIn("only 2 CPUs", lay["why"])
        self.assertEqual(bl.sweep_threads(lay), [1, 2])

    def test_one_cpu(self):
        lay = bl.placement({3})
        self.assertEqual(lay["max_threads"], 1)
        self.assertEqual(bl.proxy_cpus(1, lay), "3")
        self.assertEqual(bl.sweep_threads(lay), [1])

    def test_eight_or_more_cpus_are_disjoint(self):
        for n in (8, 12, 16, 64, 96):
            ids = set(range(100, 100 + n))
            lay = bl.placement(ids)
            p, o, ld = set(lay["proxy"]), set(lay["origin"]), set(lay["load"])
            self.assertTrue(lay["disjoint"])
            self.assertFalse(p & o or p & ld or o & ld, n)
            self.assertEqual(p | o | ld, ids)
            self.assertEqual(lay["max_threads"], n // 2)
            self.assertTrue(o and ld, n)
            # every thread point runs on CPUs of the proxy's own set
            for t in bl.sweep_threads(lay):
                cpus = {int(c) for c in bl.proxy_cpus(t, lay).split(",")}
                self.assertEqual(len(cpus), t)
                self.assertLessEqual(cpus, p)

    def test_affinity_holes_and_order(self):
        # a cpuset with holes, given unordered: placement sorts the ids
        lay = bl.placement({9, 1, 5, 3, 7, 11, 13, 15})
        self.assertEqual(lay["proxy"], [1, 3, 5, 7])
        self.assertEqual(lay["origin"], [9, 11])
        self.assertEqual(lay["load"], [13, 15])

    def test_sweep_points_end_at_max(self):
        self.assertEqual(bl.sweep_threads(bl.placement(set(range(12)))), [1, 2, 4, 6])
        self.assertEqual(bl.sweep_threads(bl.placement(set(range(64)))),
                         [1, 2, 4, 8, 16, 32])

    def test_default_uses_this_process_affinity(self):
        lay = bl.placement()
        self.assertEqual(sorted(lay["proxy"] + ([] if not lay["disjoint"] else
                                                lay["origin"] + lay["load"])),
                         sorted(os.sched_getaffinity(0)))


class RunAllPoints(unittest.TestCase):
    def test_asked_points_beyond_the_cpus_are_dropped_and_said(self):
        pts, note = run_all.sweep_points("1,2,4,8", bl.placement({0, 1}))
        self.assertEqual(pts, [1, 2])
        self.assertIn("left out: 4,8", note)
        self.assertIn("only 2 CPUs", note)

    def test_default_points(self):
        pts, note = run_all.sweep_points(None, bl.placement(set(range(16))))
        self.assertEqual(pts, [1, 2, 4, 8])
        self.assertNotIn("left out", note)


if __name__ == "__main__":
    unittest.main()
