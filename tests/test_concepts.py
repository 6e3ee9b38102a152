"""Concept checks (gan_utils.exercises.concepts): every notebook asks 3-5 of them, every right answer
passes, every wrong option fails with its own explanation, and they work with and without widgets."""
import importlib
import math
import re
from pathlib import Path

import nbformat
import pytest

from gan_utils.exercises import concepts

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ASK = re.compile(r"""concepts\.ask\(\s*["']([^"']+)["']""")


def _module(nn):
    try:
        return importlib.import_module(f"gan_utils.exercises.concepts.nb{nn}")
    except ModuleNotFoundError:
        return None


def _all_questions():
    return [q for p in NOTEBOOKS if _module(p.name[:2]) for q in concepts.questions(p.name[:2])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_asks_3_to_5_concept_checks_before_its_exercises(path):
    # guards against: a new notebook (or a rewritten one) without concept checks, or checks written in
    # gan_utils but never asked in the notebook
    nn = path.name[:2]
    howto = ("write gan_utils/exercises/concepts/nb{nn}.py (QUESTIONS: 3-5 Question objects, each wrong option with "
             "its own explanation) and a '## Concept checks' section before the exercises with one "
             "`concepts.ask(\"{nn}.name\", answer=None)` cell per question (CONTRIBUTING.md, 'Concept checks')")
    assert _module(nn) is not None, f"{path.name} has no concept checks: " + howto.format(nn=nn)
    ids = [q.id for q in concepts.questions(nn)]
    assert 3 <= len(ids) <= 5, f"{path.name}: {len(ids)} concept checks, expected 3-5"
    assert all(i.startswith(f"{nn}.") for i in ids) and len(set(ids)) == len(ids), ids
    cells = nbformat.read(path, as_version=4).cells
    asked = [(i, m) for i, c in enumerate(cells) if c.cell_type == "code" for m in ASK.findall(c.source)]
    assert [m for _, m in asked] == ids, \
        f"{path.name} asks {[m for _, m in asked]}, its module has {ids}: ask each once, in order (" + \
        howto.format(nn=nn) + ")"
    for i, _ in asked:
        assert "answer=None" in cells[i].source, f"{path.name} cell {i}: commit concept checks unanswered"
    exercises = [i for i, c in enumerate(cells) if c.cell_type == "code" and re.search(rf"\bnb{nn}\.check_", c.source)]
    if nn != "05":      # 05's exercises sit in its bug sections; its checks come before the summary
        assert max(i for i, _ in asked) < min(exercises), f"{path.name}: concept checks go before the exercises"


@pytest.mark.parametrize("q", _all_questions(), ids=lambda q: q.id)
def test_the_right_answer_passes_with_its_reason(q):
    ok, why = concepts.check(q.id, q.answer)
    assert ok and why == q.why and len(why) > 20, "a right answer gets the reason, not just 'correct'"
    if q.is_number:                         # within the tolerance counts as right too
        assert concepts.check(q.id, float(q.answer) + 0.9 * q.tolerance)[0]


@pytest.mark.parametrize("q", _all_questions(), ids=lambda q: q.id)
def test_every_wrong_answer_fails_with_its_own_explanation(q):
    # guards against: a check that accepts anything, and one generic "wrong" for every mistake
    if q.is_number:
        wrong = [value for value, _ in q.wrong]
        assert len(wrong) >= 2, f"{q.id}: list the typical wrong numbers with their explanations"
        for value in wrong:
            assert not math.isclose(value, float(q.answer), abs_tol=q.tolerance), f"{q.id}: {value} is the answer"
        messages = [concepts.check(q.id, value) for value in wrong]
        far = float(q.answer) + 1000 * max(q.tolerance, 1.0) + 0.123
        messages.append(concepts.check(q.id, far))
        assert messages[-1] == (False, q.otherwise) and q.otherwise
    else:
        assert q.answer in q.options and 3 <= len(q.options) <= 5, f"{q.id}: 3-5 options, the answer among them"
        wrong = [k for k in q.options if k != q.answer]
        messages = [concepts.check(q.id, k) for k in wrong]
        assert q.options[q.answer].why == "", f"{q.id}: the right option's reason goes in Question.why"
    assert all(ok is False for ok, _ in messages), f"{q.id}: a wrong answer passed"
    texts = [m for _, m in messages]
    assert all(len(t) > 20 for t in texts), f"{q.id}: every wrong answer needs an explanation"
    assert len(set(texts + [q.why])) == len(texts) + 1, f"{q.id}: two answers share an explanation"


def test_answers_are_read_leniently_and_nonsense_is_told_what_to_do():
    q = concepts.question("01.d-wins")
    assert concepts.check(q.id, q.answer.upper())[0] and concepts.check(q.id, f"({q.answer})")[0]
    ok, msg = concepts.check(q.id, "z")
    assert not ok and 'answer with "a", "b", "c" or "d"' in msg
    ok, msg = concepts.check("01.coin-flip", "half")
    assert not ok and "not a number" in msg
    with pytest.raises(KeyError, match="01.coin-flip"):
        concepts.question("01.no-such-question")


def test_plain_call_prints_and_returns_and_never_raises_on_a_wrong_answer(capsys):
    q = concepts.question("06.fid-n")
    assert concepts.ask(q.id, q.answer) is True
    assert capsys.readouterr().out.startswith("Right. ")
    assert concepts.ask(q.id, "a") is False
    assert q.options["a"].why in capsys.readouterr().out
    assert concepts.ask(q.id) is None                   # shows the question, in text without a notebook
    shown = capsys.readouterr().out
    assert q.prompt in shown and all(o.text in shown for o in q.options.values()) and "answer=" in shown


def test_the_question_renders_as_html_for_the_site_and_slides():
    q = concepts.question("04.slerp")
    page = concepts._Shown(q)._repr_html_()
    assert 'class="concept-check"' in page and "04.slerp" in page
    assert all(f"<b>({k})</b>" in page for k in q.options)


@pytest.mark.parametrize("qid, pick", [("03.detach", "a"), ("03.detach", "d"), ("04.latent-norm", 10.0)])
def test_the_widget_checks_the_picked_option(qid, pick, capsys):
    pytest.importorskip("ipywidgets")
    q = concepts.question(qid)
    box = concepts._widget(q)
    field, button, _ = box.children
    button.click()
    assert "Pick an option first" in capsys.readouterr().out or q.is_number
    field.value = pick
    button.click()
    ok, why = concepts.check(qid, pick)
    assert why in capsys.readouterr().out


def test_concept_checks_leave_the_global_random_stream_alone():
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    for q in _all_questions():
        concepts.check(q.id, q.answer)
    assert torch.equal(torch.rand(3), expected)
