"""The reference player's own pieces that need no model: the image a turn shows, family checks.

Turn-by-turn parity with lmms-eval runs is tests/integration/test_reference_loop.py.
"""

from __future__ import annotations

import pytest
from PIL import Image

from proactivebench_ext.core.engine import new_episode
from proactivebench_ext.data.layout import embedded_data_dir
from proactivebench_ext.data.validate import scan_test_set
from proactivebench_ext.testing.reference_loop import ReferencePlayer, turn_image


def first_turn(scenario: str):
    directory = embedded_data_dir()
    row = next(row for row in scan_test_set(scenario, directory) if row.fault is None)
    return new_episode(scenario, row.entry, directory).observe()


def test_a_coco_turn_shows_its_crop_box_in_rgb():
    turn = first_turn("COCO")
    assert turn.crop is not None
    left, top, right, bottom = turn.crop
    shown = turn_image(turn)
    with Image.open(turn.image_path) as full:
        expected = full.convert("RGB").crop(turn.crop)
    assert shown.mode == "RGB"
    assert shown.size == (round(right) - round(left), round(bottom) - round(top)) == expected.size
    assert shown.tobytes() == expected.tobytes()


def test_a_turn_without_crop_shows_the_whole_frame():
    turn = first_turn("ROD")
    assert turn.crop is None
    with Image.open(turn.image_path) as full:
        assert turn_image(turn).size == full.size


def test_a_family_outside_the_protocol_is_refused_by_name(tmp_path):
    from transformers import LlavaConfig

    LlavaConfig().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"model_type 'llava' is not played by the reference loop"):
        ReferencePlayer(tmp_path)
