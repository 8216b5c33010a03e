#!/usr/bin/env python3
"""CPU checks of bench_flex.py's layouts, mask rule and FLOP counts (no GPU, no FlexAttention; torch >= 1.13):

    /usr/bin/python3 native/tests/test_bench_flex_layouts.py
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_flex as bf  # noqa: E402


def brute_force_mask(node, end):
    """The rule of native/include/prefixshare/params.h, one pair at a time."""
    B, T = node.shape
    m = torch.zeros(B, 1, T, T, dtype=torch.bool)
    for b in range(B):
        for q in range(T):
            for k in range(q + 1):
                m[b, 0, q, k] = bool(node[b, k] <= node[b, q] <= end[b, k])
    return m


class LayoutTest(unittest.TestCase):

    def test_layouts_follow_the_documents(self):
        node, end, docs = bf.layout("pair", 2, 1024)
        self.assertEqual(docs, [(512, 256, 256)])
        self.assertTrue((node[:, :512] == 0).all() and (end[:, :512] == 2).all())
        self.assertTrue((node[:, 512:768] == 1).all() and (end[:, 512:768] == 1).all())
        self.assertTrue((node[:, 768:] == 2).all() and (end[:, 768:] == 2).all())
        node, end, docs = bf.layout("packed", 1, 4096)
        self.assertEqual(len(docs), 4)
        self.assertEqual(node[0, 1024].item(), 3)  # the second document's prompt
        self.assertEqual(end[0, 1024].item(), 5)
        node, end, docs = bf.layout("causal", 1, 1024)
        self.assertTrue((node == 0).all() and (end == 0).all())

    def test_dense_mask_is_the_rule(self):
        for kind in bf.LAYOUTS:
            # a scaled-down row with the same structure: brute force is O(T^2) in Python
            node, end, _ = bf.layout(kind, 2, 1024)
            idx = torch.cat([torch.arange(0, 1024, 37), torch.tensor([511, 512, 767, 768, 1023])])
            small_node, small_end = node[:, idx], end[:, idx]
            got = bf.dense_mask(small_node, small_end)
            self.assertTrue(torch.equal(got, brute_force_mask(small_node, small_end)), kind)

    def test_visible_pairs_count_the_mask(self):
        for kind in bf.LAYOUTS:
            for T in (1024, 2048):
                node, end, docs = bf.layout(kind, 2, T)
                self.assertEqual(bf.visible_pairs(docs, 2), int(bf.dense_mask(node, end).sum()), (kind, T))

    def test_paired_sequences(self):
        self.assertEqual(bf.paired_sequences(bf.documents("pair", 2048)), [1536, 1536])
        self.assertEqual(bf.paired_sequences(bf.documents("packed", 2048)), [768] * 4)
        self.assertEqual(bf.paired_sequences(bf.documents("causal", 2048)), [2048])

    def test_markdown_table_and_ratios(self):
        r = bf.Results(None)
        base = dict(layout="packed", T=1024, B=16, visible_frac=0.5)
        r.add(**base, method="flex", fwd_ms=2.0, fb_ms=6.0, fb_tflops=100.0)
        r.add(**base, method="ours", fwd_ms=1.0, fb_ms=4.0, fb_tflops=150.0, err_out=1e-3, err_dq=2e-3,
              err_dk=3e-3, err_dv=4e-3)
        table = bf.markdown(r, "header")
        self.assertIn("| packed | 1024 | 16 | 0.500 | 1.000 | 4.000 | 150 | 2.000 | 6.000 | - | - | **1.50** | 2.00 |",
                      table)
        self.assertIn("1.0e-03, 2.0e-03, 3.0e-03, 4.0e-03", table)


@unittest.skipUnless(shutil.which("cc"), "no C compiler")
class ParamsStructTest(unittest.TestCase):
    """The ctypes mirrors of ps_attn_fwd_params / ps_attn_bwd_params have params.h's offsets and sizes."""

    def test_offsets_match_the_header(self):
        include = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "include")
        fields = [(name, "ps_attn_fwd_params", name) for name, _ in bf.FwdParams._fields_]
        fields += [(name, "ps_attn_bwd_params", name) for name, _ in bf.BwdParams._fields_]
        lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "prefixshare/params.h"', "int main(void) {",
                 'printf("%zu %zu\\n", sizeof(ps_attn_fwd_params), sizeof(ps_attn_bwd_params));']
        lines += [f'printf("%zu\\n", offsetof({struct}, {member}));' for _, struct, member in fields]
        lines.append("return 0; }")
        with tempfile.TemporaryDirectory() as tmp:
            src, exe = os.path.join(tmp, "p.c"), os.path.join(tmp, "p")
            with open(src, "w") as f:
                f.write("\n".join(lines))
            subprocess.run(["cc", "-I", include, src, "-o", exe], check=True)
            out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout.split()
        import ctypes
        self.assertEqual([int(out[0]), int(out[1])], [ctypes.sizeof(bf.FwdParams), ctypes.sizeof(bf.BwdParams)])
        want = [getattr(bf.FwdParams, n).offset for n, _, _ in fields[:len(bf.FwdParams._fields_)]]
        want += [getattr(bf.BwdParams, n).offset for n, _, _ in fields[len(bf.FwdParams._fields_):]]
        self.assertEqual([int(x) for x in out[2:]], want)


if __name__ == "__main__":
    unittest.main()
