"""Shared by the tests that hold a notebook's prose to its record (tests/test_*_record.py)."""
import nbformat


def markdown_prose(notebook) -> str:
    """Every markdown cell of ``notebook`` (a path), joined: where the numbers quoted from a record stand."""
    return "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "markdown")
