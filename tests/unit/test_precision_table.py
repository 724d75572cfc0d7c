"""`precision_table --write FILE` replaces exactly the table between the marker lines of FILE."""
import pytest

from dummy_harness import precision_table as pt


def test_write_replaces_only_the_block_between_the_markers(tmp_path):
    doc = tmp_path / "precision.md"
    begin, end = pt.MARKER_BEGIN.format(file="docs/precision.md"), pt.MARKER_END
    doc.write_text(f"# Title\n\ntext before\n{begin}\n| old | table |\nold line\n{end}\ntext after\n")
    pt.write_block(str(doc), ["| new | table |", "", "measured today"])
    assert doc.read_text() == (f"# Title\n\ntext before\n{begin}\n| new | table |\n\nmeasured today\n{end}\n"
                               "text after\n")
    pt.write_block(str(doc), ["| again |"])          # the markers stay, so it can be written again
    assert f"{begin}\n| again |\n{end}\n" in doc.read_text()


def test_write_refuses_a_file_without_markers_and_a_partial_table(tmp_path):
    doc = tmp_path / "precision.md"
    doc.write_text("no markers here\n")
    with pytest.raises(SystemExit, match="no '<!-- BEGIN precision table"):
        pt.write_block(str(doc), ["| x |"])
    assert doc.read_text() == "no markers here\n"
    assert pt.main(["--models=resnet50", f"--write={doc}"]) == 2
