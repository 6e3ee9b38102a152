"""Concept checks of notebooks/01_minimax.ipynb (the machinery: gan_utils.exercises.concepts)."""
import math

from . import Option, Question

QUESTIONS = [
    Question(
        id="01.coin-flip",
        prompt="At the game's global optimum, p_g = p_data. What does the optimal discriminator D* output there, "
               "for every x?",
        answer=0.5, tolerance=1e-3,
        why="D* = p_data / (p_data + p_g) = p / 2p = 1/2: the best discriminator cannot tell, a coin flip. "
            "A discriminator that outputs 1/2 is not broken: it is what D should do at the optimum.",
        wrong=((1.0, "D* = 1 means 'surely real', which is D*'s value where only real data has mass (p_g = 0). "
                     "With p_g = p_data every x is as likely real as fake."),
               (0.0, "D* = 0 means 'surely fake', D*'s value where only the generator puts mass (p_data = 0).")),
        otherwise="substitute p_g = p_data into D*(x) = p_data(x) / (p_data(x) + p_g(x))."),
    Question(
        id="01.c-at-optimum",
        prompt="Against the optimal D, the generator minimises C(G) = -log 4 + 2 JSD(p_data || p_g). What is its "
               "minimum value (natural log)?",
        answer=-math.log(4), tolerance=0.01,
        why="JSD >= 0 with equality only at p_g = p_data, so min C = -log 4 = -1.386: "
            "V = log 1/2 + log 1/2 there.",
        wrong=((0.0, "0 is C's value when JSD = log 2, the ceiling reached by distributions with disjoint "
                     "supports: the worst generator, not the best."),
               (-math.log(2), "-log 2 counts one of the two terms: at D* = 1/2, V = E log(1/2) + E log(1 - 1/2) = "
                              "2 log(1/2) = -log 4."),
               (-2.0, "check the constant: -log 4 is about -1.386, not -2 (the JSD is in nats).")),
        otherwise="C(G) = -log 4 + 2 JSD and the JSD is at least 0."),
    Question(
        id="01.jsd-disjoint",
        prompt="What is the Jensen-Shannon divergence, in nats, between two distributions whose supports do not "
               "overlap, however far apart they are?",
        answer=math.log(2), tolerance=1e-3,
        why="log 2 = 0.693, whatever the distance: the JSD saturates, so its gradient with respect to the "
            "generator's position is 0 (notebook 07's motivation for W1).",
        wrong=((1.0, "1 is log 2 in bits (log base 2); the course measures the JSD in nats (natural log)."),
               (0.0, "the JSD is 0 only for equal distributions; disjoint supports are as different as it gets."),
               (math.inf, "that would be the KL divergence (infinite where p > 0 but q = 0); the JSD compares each "
                          "distribution with the mixture m = (p + q) / 2 and is at most log 2.")),
        otherwise="the JSD is bounded: 0 <= JSD <= log 2, with the upper bound reached for disjoint supports."),
    Question(
        id="01.d-wins",
        prompt="Early in training D confidently rejects every fake: D(G(z)) is about 0.001. Which generator loss "
               "still sends G a useful gradient?",
        answer="b",
        why="-log D(G(z)) has gradient about -1 with respect to D's logit when D(G(z)) is near 0, while "
            "log(1 - D(G(z))) has gradient -D(G(z)), about -0.001: a thousandth.",
        options={
            "a": Option("the saturating loss log(1 - D(G(z))), the minimax objective itself",
                        "its gradient with respect to D's logit is -D(G(z)), which vanishes exactly when D wins: "
                        "the loss saturates early in training."),
            "b": Option("the non-saturating loss -log D(G(z))", ""),
            "c": Option("neither: D winning means the run has failed",
                        "D winning early is normal (fakes start as noise); the non-saturating loss exists precisely "
                        "so that G learns from a confident D."),
            "d": Option("both, equally: they have the same fixed point",
                        "same fixed point, yes, but not the same gradients: near D(G(z)) = 0 they differ by a factor "
                        "of about 1/D(G(z)), here 1000."),
        }),
]
