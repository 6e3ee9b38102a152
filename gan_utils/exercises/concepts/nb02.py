"""Concept checks of notebooks/02_toy_gans.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="02.collapse",
        prompt="A GAN trained on the ring of 8 Gaussians puts every sample close to a mode, but only 3 of the 8 "
               "modes get any samples. What does that show?",
        answer="b",
        why="quality (each sample near a mode) and coverage (how many modes get samples) are separate numbers: "
            "this generator is precise and collapsed. The notebook reports both for that reason.",
        options={
            "a": Option("the generator did not learn anything",
                        "every sample lies close to a real mode: it learned where the data is, just not all of it."),
            "b": Option("mode collapse: high sample quality, low coverage", ""),
            "c": Option("nothing is wrong, since the samples look real",
                        "each sample looks real, but the distribution is wrong: 5 of 8 modes are missing, which no "
                        "single sample can show."),
            "d": Option("the discriminator is broken",
                        "a working D is part of how collapse happens: G moves to where D currently rates fakes "
                        "highly; D need not be broken for G to drop modes."),
        }),
    Question(
        id="02.d-star-real-only",
        prompt="In a region where only the real data has mass (p_g = 0 there), what does the optimal "
               "discriminator D* output?",
        answer=1.0, tolerance=1e-3,
        why="D* = p_data / (p_data + 0) = 1: surely real. The trained D of section 3 approaches this shape.",
        wrong=((0.5, "1/2 is D* where the two densities are equal (or both 0), not where only real data lives."),
               (0.0, "0 is D* where only the generator puts mass: surely fake.")),
        otherwise="use D*(x) = p_data(x) / (p_data(x) + p_g(x)) with p_g(x) = 0."),
    Question(
        id="02.hopping",
        prompt="During training the generator's samples jump from one mode to another instead of spreading over "
               "all of them. Why?",
        answer="a",
        why="each G step moves the fakes to where D currently scores them as real; D then learns to reject that "
            "spot and G moves on: the game circles instead of settling (notebook 10 analyses this on the Dirac GAN).",
        options={
            "a": Option("G chases the region D currently rates as real; D adapts, and G moves on", ""),
            "b": Option("the noise z is redrawn at every step",
                        "a new z every step is how GANs are trained; a good G maps different z to different modes, "
                        "so fresh z cannot cause the jumps."),
            "c": Option("the data is shuffled between epochs",
                        "shuffling changes the order of the real samples, not which modes are in the data: D sees "
                        "all 8 modes in every epoch."),
            "d": Option("the learning rate is too small",
                        "a smaller step makes each jump smaller, not the chase itself: the hopping comes from the "
                        "game's dynamics."),
        }),
]
