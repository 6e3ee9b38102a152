"""Automatic checks for the notebooks' exercises: ``gan_utils.exercises.nbNN`` serves notebook NN.

The pattern every check follows (see CONTRIBUTING.md):

- the notebook's exercise cell holds a learner stub that raises ``NotImplementedError``, then calls
  ``gan_utils.exercises.nbNN.check_xxx(fn)``;
- ``check_xxx`` runs ``fn`` on (seeded) random inputs and compares its **behaviour** with the
  reference implementation in ``gan_utils``, never the source text;
- an unsolved stub prints "not attempted yet" and returns ``False`` (so CI, which runs the notebooks
  with the stubs unsolved, stays green); a wrong answer raises ``AssertionError`` with a message that
  says what went wrong; a right answer prints a confirmation and returns ``True``.

The reference solutions live in ``solutions/NN_*.py``; ``tests/test_exercises_nbNN.py`` runs each of
them through its check (must pass) and a deliberately wrong implementation too (must fail).
"""
