"""Nested argument and output structures: one flatten, one rebuild."""

import sympy as sp

from sympile._core.tree import arg_targets, flatten, leaves, mismatch, rebuild, spell, top_level

x, y, z = sp.symbols("x y z")


def test_flatten_is_depth_first_and_rebuild_inverts_it():
    obj = [x, (y, [z, x + 1]), sp.Matrix([[x, y], [1, z]])]
    flat, tree = flatten(obj)
    assert flat == [x, y, z, x + 1, x, y, 1, z]
    assert leaves(tree) == list(range(8))
    back = rebuild(tree, flat.__getitem__, lambda shape, ks: sp.Matrix(*shape, [flat[k] for k in ks]))
    assert back == obj and type(back[1]) is tuple


def test_spell_writes_the_structure_as_source():
    _, tree = flatten([x, (y,), sp.Matrix([[x, y]])])
    text = spell(tree, ["a", "b", "c", "d"], lambda shape, items: f"M{shape}{items}")
    assert text == "[a, (b,), M(1, 2)['c', 'd']]"


def test_arguments_are_unpacked_and_mismatches_explained():
    _, tree = flatten([x, [y, z]])
    params, unpack = arg_targets(tree)
    assert params == ["a0", "g1"] and unpack == ["[a1, a2] = g1"]
    assert len(top_level(tree)) == 2
    got: list = []
    assert mismatch(top_level(tree)[1], [1.0, 2.0], got) is None and got == [1.0, 2.0]
    assert "got 3 items" in mismatch(top_level(tree)[1], [1.0, 2.0, 3.0], [])
    assert "got float" in mismatch(top_level(tree)[1], 1.0, [])
