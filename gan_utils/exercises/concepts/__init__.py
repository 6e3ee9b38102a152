"""Concept checks: 3-5 short questions per notebook, answered in the notebook and checked at once.

Each notebook NN has a module ``gan_utils.exercises.concepts.nbNN`` with a list ``QUESTIONS``;
its "Concept checks" section (before the exercises) has one cell per question:

    concepts.ask("01.coin-flip", answer=None)     # your answer: "a", "b", "c" or "d"

* ``answer=None`` shows the question. In a live Jupyter kernel with ipywidgets it also shows the
  options as buttons with a "Check" button (the rule of :func:`gan_utils.lessons.widgets.widgets_available`);
  a static page, a slide or CI just shows the question. Returns ``None``.
* ``answer="b"`` (or a number, for number questions) checks the answer without any widget: it prints
  why it is right, or, for a wrong option, the explanation written for *that* option (each wrong
  option answers the misconception that leads to it), and returns ``True`` or ``False``. A wrong
  answer never raises, so "Run all" goes on.

The questions are written against the misconceptions a lecturer meets (docs/teaching.md lists
them): reading the losses, what D* means, what FID can and cannot say. ``tests/test_concepts.py``
checks that every question's right answer passes and every wrong option fails with its own message.
"""
from __future__ import annotations

import html
import importlib
import math
from dataclasses import dataclass, field
from typing import Optional, Union

__all__ = ["Option", "Question", "questions", "question", "check", "ask"]


@dataclass(frozen=True)
class Option:
    """One answer of a multiple-choice question and the explanation shown when it is chosen."""
    text: str
    why: str


@dataclass(frozen=True)
class Question:
    """A multiple-choice question (``options``, ``answer`` a key of it) or a number question
    (``answer`` a number, right within ``tolerance``; ``wrong`` maps typical wrong numbers to the
    explanation of the mistake that produces them, ``otherwise`` explains any other number)."""
    id: str                                   # "NN.name": NN is the notebook that asks it
    prompt: str                               # the question (plain text; $...$ is typeset on the site)
    answer: Union[str, float]
    why: str                                  # shown with a right answer: the reason, not just "correct"
    options: dict = field(default_factory=dict)        # {"a": Option(...), ...}
    tolerance: float = 0.0
    wrong: tuple = ()                         # ((value, why), ...) for number questions
    otherwise: str = ""

    @property
    def is_number(self) -> bool:
        return not self.options

    def how_to_answer(self) -> str:
        if self.is_number:
            return "answer with a number"
        keys = list(self.options)
        return "answer with " + ", ".join(f'"{k}"' for k in keys[:-1]) + f' or "{keys[-1]}"'


def questions(notebook: str) -> list[Question]:
    """The concept checks of notebook ``notebook`` ("01" or 1), in order."""
    nn = str(notebook).zfill(2)
    return list(importlib.import_module(f"{__name__}.nb{nn}").QUESTIONS)


def question(qid: str) -> Question:
    found = [q for q in questions(qid.split(".", 1)[0]) if q.id == qid]
    if not found:
        known = ", ".join(q.id for q in questions(qid.split(".", 1)[0]))
        raise KeyError(f"no concept check {qid!r}; this notebook's are: {known}")
    return found[0]


def check(qid: str, answer) -> tuple[bool, str]:
    """Grade ``answer`` to question ``qid``: (right?, the explanation for that answer). No printing."""
    q = question(qid)
    if q.is_number:
        try:
            value = float(answer)
        except (TypeError, ValueError):
            return False, f"{answer!r} is not a number: {q.how_to_answer()}."
        if math.isclose(value, float(q.answer), rel_tol=0.0, abs_tol=q.tolerance):
            return True, q.why
        for wrong_value, why in q.wrong:
            if math.isclose(value, float(wrong_value), rel_tol=0.0, abs_tol=q.tolerance):
                return False, why
        return False, q.otherwise
    key = str(answer).strip().lower().strip("()")
    if key not in q.options:
        return False, f"{answer!r} is not one of the options: {q.how_to_answer()}."
    return (True, q.why) if key == q.answer else (False, q.options[key].why)


def _feedback(qid: str, answer) -> tuple[bool, str]:
    ok, why = check(qid, answer)
    return ok, ("Right. " if ok else f"Not quite ({answer!r}). ") + why


def _question_text(q: Question) -> str:
    lines = [f"Concept check {q.id}: {q.prompt}"]
    lines += [f"  ({k}) {o.text}" for k, o in q.options.items()]
    lines.append(f"Set answer= in this cell and run it again ({q.how_to_answer()}).")
    return "\n".join(lines)


def _question_html(q: Question) -> str:
    opts = "".join(f"<li><b>({html.escape(k)})</b> {html.escape(o.text)}</li>" for k, o in q.options.items())
    return (f'<div class="concept-check"><p><b>Concept check</b> <code>{html.escape(q.id)}</code>: '
            f'{html.escape(q.prompt)}</p>' + (f'<ul style="list-style: none">{opts}</ul>' if opts else "")
            + f"<p><i>Set <code>answer=</code> in this cell and run it again ({html.escape(q.how_to_answer())}).</i></p></div>")


class _Shown:
    """Displays as the question: HTML on the site and in slides, plain text elsewhere."""

    def __init__(self, q: Question):
        self.q = q

    def _repr_html_(self):
        return _question_html(self.q)

    def __repr__(self):
        return _question_text(self.q)

    __str__ = __repr__


def _show(obj) -> None:
    try:
        from IPython.display import display
    except ImportError:           # plain Python without IPython: the text
        print(obj)
        return
    display(obj)


def _widget(q: Question):
    import ipywidgets as W

    if q.is_number:
        field_ = W.FloatText(description="answer")
    else:
        field_ = W.RadioButtons(options=[(f"({k}) {o.text}", k) for k, o in q.options.items()], value=None,
                                layout=W.Layout(width="max-content"))
    button, out = W.Button(description="Check"), W.Output()

    def on_click(_):
        out.clear_output()
        with out:
            if field_.value is None:
                print("Pick an option first.")
            else:
                print(_feedback(q.id, field_.value)[1])

    button.on_click(on_click)
    return W.VBox([field_, button, out])


def ask(qid: str, answer: Optional[Union[str, float]] = None):
    """Show question ``qid`` (``answer=None``), or check ``answer`` and print why (module doc).
    Returns None, True or False."""
    q = question(qid)
    if answer is None:
        from ...lessons.widgets import widgets_available

        _show(_Shown(q))
        if widgets_available():
            _show(_widget(q))
        return None
    ok, message = _feedback(qid, answer)
    print(message)
    return ok
