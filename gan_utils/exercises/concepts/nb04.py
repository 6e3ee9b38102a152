"""Concept checks of notebooks/04_dcgan.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="04.beta1",
        prompt="DCGAN trains with Adam. Which beta1 does its recipe use, and why?",
        answer="b",
        why="0.5: momentum averaged over many steps overshoots in a game whose updates rotate around the "
            "equilibrium; a shorter memory damps the oscillation (notebook 05's bug 9 shows beta1 = 0.9).",
        options={
            "a": Option("0.9, Adam's default",
                        "the default's long momentum overshoots in a rotating game: wider oscillations."),
            "b": Option("0.5", ""),
            "c": Option("0.0, always",
                        "beta1 = 0 is WGAN-GP's choice (Adam (0, 0.9), notebook 07), not DCGAN's."),
            "d": Option("it does not matter",
                        "it does: the notebooks measure the difference (notebooks 05 and 10)."),
        }),
    Question(
        id="04.latent-norm",
        prompt="A latent code z is drawn from N(0, I) in 100 dimensions. Its length ||z|| is close to which number?",
        answer=10.0, tolerance=0.5,
        why="E||z||^2 = 100, and in high dimension ||z|| concentrates near sqrt(100) = 10: the codes live near a "
            "sphere of radius 10.",
        wrong=((1.0, "1 is the standard deviation of each coordinate, not the length of the 100-dimensional vector."),
               (100.0, "100 is the expected *squared* length; the length is its square root.")),
        otherwise="compute the expected squared length, sum of 100 unit variances, then take the square root."),
    Question(
        id="04.slerp",
        prompt="Why does the notebook interpolate between two latent codes with slerp rather than along a straight line?",
        answer="a",
        why="two independent codes are nearly orthogonal with length about 10, so the straight midpoint has length "
            "about 10 / sqrt(2) = 7.1, a region G almost never saw in training; slerp stays near the sphere.",
        options={
            "a": Option("the straight line's midpoints are much shorter than typical codes", ""),
            "b": Option("slerp is faster to compute",
                        "it is slower (trigonometry); the reason is where the midpoints lie."),
            "c": Option("linear interpolation leaves the latent space",
                        "every vector of R^100 is a valid input to G; the midpoints are just atypical."),
            "d": Option("BatchNorm requires unit-length codes",
                        "BatchNorm normalises activations inside G, not the codes; G takes any z."),
        }),
    Question(
        id="04.ema",
        prompt="What is the EMA generator that the notebook samples from?",
        answer="c",
        why="an exponential moving average of G's weights over the training steps: it damps the raw generator's "
            "oscillation and costs no extra training [Yazici2019].",
        options={
            "a": Option("a second generator trained with its own loss",
                        "it is never trained: its weights are an average of the trained G's."),
            "b": Option("the generator from the step with the lowest G loss",
                        "a single step's weights, chosen by a loss that says little about quality (notebook 03)."),
            "c": Option("a running average of G's weights over training", ""),
            "d": Option("an average of G's and D's weights",
                        "G and D have different architectures; the average is over time, of G alone."),
        }),
]
