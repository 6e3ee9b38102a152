"""Concept checks of notebooks/10_modern_recipes.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="10.dirac",
        prompt="On the Dirac GAN, plain gradient play has the purely imaginary eigenvalues +-i/2. What do the "
               "iterates do?",
        answer="b",
        why="purely imaginary eigenvalues mean rotation without damping: alternating steps circle around the "
            "equilibrium, simultaneous steps spiral outwards.",
        options={
            "a": Option("they converge to the equilibrium",
                        "convergence needs eigenvalues with negative real part; these have real part 0."),
            "b": Option("they circle (alternating steps) or spiral out (simultaneous steps)", ""),
            "c": Option("they diverge in a straight line",
                        "an imaginary eigenvalue rotates; it does not push along a line."),
        }),
    Question(
        id="10.r1-real",
        prompt="With R1 of weight gamma the Dirac GAN's eigenvalues are -gamma/2 +- sqrt(gamma^2/4 - 1/4). From "
               "which gamma on are they real, so that the iterates stop oscillating?",
        answer=1.0, tolerance=1e-3,
        why="gamma^2/4 - 1/4 >= 0 exactly when gamma >= 1; below that the square root is imaginary and the iterates "
            "spiral in while they converge.",
        wrong=((0.5, "at gamma = 1/2, gamma^2/4 - 1/4 = -3/16 < 0: the eigenvalues are still complex."),
               (0.0, "gamma = 0 is the plain GAN: eigenvalues +-i/2, it circles."),
               (0.25, "gamma = 1/4 gives gamma^2/4 - 1/4 < 0: still complex.")),
        otherwise="solve gamma^2/4 - 1/4 >= 0 for gamma >= 0."),
    Question(
        id="10.seeds",
        prompt="One run of recipe A ends at FD 20, one run of recipe B at FD 22 (same steps). What follows?",
        answer="c",
        why="the same recipe with another seed can move the score by more than that: compare means over several "
            "seeds, at equal steps and equal time, and do not read differences smaller than the spread.",
        options={
            "a": Option("A is better",
                        "one run per recipe says little: the seed-to-seed spread can be larger than 2."),
            "b": Option("B is better",
                        "lower FD is better, and in any case one run each cannot decide."),
            "c": Option("nothing yet: run several seeds and compare against the spread", ""),
        }),
    Question(
        id="10.memorising-d",
        prompt="Trained on 1 000 images, D's outputs on its training images keep rising while on held-out real "
               "images they fall. What is happening?",
        answer="a",
        why="D memorises its training set: it learns those images rather than what makes an image real, and G's "
            "signal degrades. DiffAugment (section 4) is one remedy.",
        options={
            "a": Option("D is memorising its training images", ""),
            "b": Option("G is improving",
                        "G's improvement would change D's outputs on fakes, not split them between real training and "
                        "held-out images."),
            "c": Option("nothing: it is normal for any GAN",
                        "with enough data D's outputs on training and held-out images stay together; the split "
                        "is the sign of overfitting."),
        }),
    Question(
        id="10.diffaugment",
        prompt="DiffAugment applies random augmentations. To which images?",
        answer="b",
        why="to everything D sees, real and fake, with differentiable operations so that G gets gradients through "
            "them: D never sees an unaugmented image, so augmentations are no sign of fakeness.",
        options={
            "a": Option("to the real images only",
                        "D would then learn that augmented means real, and G would learn to produce augmented-looking "
                        "images."),
            "b": Option("to real and fake images alike, differentiably", ""),
            "c": Option("to the fake images only",
                        "D would then learn that augmented means fake, which G cannot change."),
        }),
]
