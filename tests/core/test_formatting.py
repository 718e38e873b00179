import pytest

from nnstudio.core.formatting import (
    UNKNOWN,
    format_bytes,
    format_count,
    format_duration,
    format_shape,
    printable,
)


@pytest.mark.parametrize(("count", "text"), [
    (0, "0"), (320, "320"), (999, "999"), (1000, "1k"), (18_496, "18.5k"), (999_950, "1M"),
    (1_200_000, "1.2M"), (123_456_789, "123M"), (3_000_000_000, "3G"), (2.5e12, "2.5T"), (None, UNKNOWN),
])
def test_counts_read_the_same_everywhere(count, text):
    assert format_count(count) == text


def test_shapes_show_the_batch_label_and_unknown_as_a_question_mark():
    assert format_shape(("N", 32, 8, 8)) == "[N, 32, 8, 8]"
    assert format_shape(None) == "?"


def test_a_shape_of_absurd_rank_keeps_its_message_on_one_short_line():
    assert format_shape(["N", *[1] * 200_000]) == "[N, 1, 1, 1, 1, 1, 1, 1, ..., 1, 1] (200,001 dimensions)"
    assert format_shape(["N", *range(15)]) == "[N, " + ", ".join(map(str, range(15))) + "]"


@pytest.mark.parametrize(("size", "text"), [(512, "512 bytes"), (100_000, "97.7 KB"), (3 * 2**30, "3.0 GB")])
def test_byte_sizes_use_binary_multiples(size, text):
    assert format_bytes(size) == text


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0:00"), (42, "0:42"), (725, "12:05"), (3723, "1:02:03")])
def test_durations(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("text", "shown"), [
    ("plain name", "plain name"),
    ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),  # would clear the screen and colour what follows
    ("bell\x07 and del\x7f and c1\x9b", "bell\\x07 and del\\x7f and c1\\x9b"),
    ("over\rwrite", "over\\rwrite"),  # a carriage return would hide the start of the line
    ("caf\udce9.csv", "caf\\xe9.csv"),  # a Latin-1 file name as Python sees it: shown as its byte
    ("lone \ud800", "lone \\ud800"),
    ("abc\u202edcba", "abc\\u202edcba"),  # a right-to-left override would reorder what follows
    ("two\nlines\tand a tab", "two\nlines\tand a tab"),
])
def test_printable_escapes_what_a_terminal_would_act_on(text, shown):
    assert printable(text) == shown
    printable(text).encode("utf-8")  # always something a UTF-8 terminal can be sent


def test_printable_escapes_newlines_inside_one_name():
    assert printable("a\nb\tc", keep_lines=False) == "a\\nb\\tc"
    assert printable(3) == "3"
