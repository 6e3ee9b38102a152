"""Concept checks of notebooks/09_conditional.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="09.ignores-label",
        prompt="A conditional generator makes realistic garments with exactly the right overall distribution p(x), "
               "but ignores the label y. Is it optimal for the conditional game?",
        answer="b",
        why="the conditional game is one game per class, weighted by p(y): its optimum is p_g(x | y) = p(x | y) for "
            "every class, and a generator with the right p(x) but the wrong classes still loses.",
        options={
            "a": Option("yes: p(x) is right",
                        "D sees the label too: an image of a shoe labelled 'shirt' is easy to reject."),
            "b": Option("no: the optimum needs p_g(x | y) = p(x | y) for every class", ""),
            "c": Option("yes, if the classes are balanced",
                        "balance changes the weights of the per-class games, not what each of them asks for."),
        }),
    Question(
        id="09.projection",
        prompt="Where does the projection discriminator use the label?",
        answer="c",
        why="at the end: the logit is the unconditional output plus the inner product of a class embedding V_y "
            "with D's features phi(x), the form the optimal logit takes [MiyatoKoyama2018].",
        options={
            "a": Option("concatenated to the input image as extra channels",
                        "that is the concatenation discriminator, one of the three the notebook compares."),
            "b": Option("as a second output head that classifies the image",
                        "that is AC-GAN's auxiliary classifier."),
            "c": Option("as an inner product of a class embedding with D's features, added to the logit", ""),
            "d": Option("through conditional BatchNorm in D",
                        "conditional BatchNorm is how this course's *generator* takes the label."),
        }),
    Question(
        id="09.truncation",
        prompt="The truncation trick draws z from a truncated normal. What does it do?",
        answer="a",
        why="it always costs diversity (samples come from a smaller part of latent space); whether it buys fidelity "
            "depends on the generator, so measure the curve (precision and recall against the threshold).",
        options={
            "a": Option("it always costs diversity; whether it improves fidelity depends on the generator", ""),
            "b": Option("it improves fidelity and diversity",
                        "restricting z can only shrink the set of samples: diversity goes down."),
            "c": Option("nothing: G maps every z the same way",
                        "G maps different z to different images; truncation drops the codes far from the centre."),
            "d": Option("it always improves fidelity",
                        "not always: this notebook's small generator only breaks under strong truncation, and the "
                        "gain depends on the model."),
        }),
    Question(
        id="09.acgan",
        prompt="What is AC-GAN's known failure, which the notebook measures?",
        answer="b",
        why="its classifier term rewards samples that its own classifier finds easy: the generated garments are "
            "easier for it than real ones, an independent classifier recognises fewer of them, and they vary less "
            "within a class.",
        options={
            "a": Option("it cannot generate a requested class at all",
                        "it does generate classes; the problem is which samples within a class it prefers."),
            "b": Option("it favours samples that are easy to classify, losing diversity within a class", ""),
            "c": Option("it needs labels at test time only",
                        "like every conditional GAN here it needs labels for training too."),
        }),
]
