"""Concept checks of notebooks/03_mlp_gan.ipynb (the machinery: gan_utils.exercises.concepts)."""
import math

from . import Option, Question

QUESTIONS = [
    Question(
        id="03.d-loss-coin-flip",
        prompt="D's loss is the binary cross-entropy on the real batch plus that on the fake batch. What is it "
               "(natural log) when D outputs 0.5 on every image?",
        answer=2 * math.log(2), tolerance=0.01,
        why="-log 0.5 on the real batch plus -log(1 - 0.5) on the fake batch = 2 log 2 = 1.386: the level D's loss "
            "hovers around in a balanced run.",
        wrong=((math.log(2), "log 2 is one of the two terms; D's loss adds the real and the fake term."),
               (0.0, "a loss of 0 means D is perfectly sure and right on both batches, the opposite of 0.5."),
               (1.0, "that is log base 2; the course's losses use the natural log.")),
        otherwise="add -log D(x) and -log(1 - D(G(z))) at D = 0.5."),
    Question(
        id="03.g-loss-down",
        prompt="A learner says: 'my generator's loss is not going down, so G is not learning'. Which is the best "
               "way to tell whether the run improves?",
        answer="c",
        why="each loss is measured against an opponent that changes: in a balanced game both hover at a level. "
            "Fixed-noise samples over time, and a metric computed on samples (notebook 06), show progress.",
        options={
            "a": Option("G's loss going down",
                        "G's loss is measured against a D that improves too; when both improve, G's loss can stay "
                        "flat or even rise while the samples get better."),
            "b": Option("D's loss going down",
                        "D's loss falling means D is winning: fakes are easy to spot, which is not what you want."),
            "c": Option("fixed-noise samples over time, and a sample-based metric", ""),
            "d": Option("both losses reaching 0",
                        "both losses near 0 is a bug, not convergence: G's loss with the fake label (notebook 05)."),
        }),
    Question(
        id="03.d-loss-zero",
        prompt="D's loss drops close to 0 early in a run. What does that tell you?",
        answer="b",
        why="D currently separates real from fake easily. Look at D(G(z)) and the samples: with the non-saturating "
            "loss G still gets gradients and can recover (the 'too strong D' run of section 6).",
        options={
            "a": Option("the run has failed: stop it",
                        "not necessarily: with the non-saturating loss G keeps a gradient even against a confident "
                        "D, and section 6's strong-D run recovers after a phase of mode collapse."),
            "b": Option("D wins for now; check D(G(z)) and the samples before concluding anything", ""),
            "c": Option("the generator has converged",
                        "at convergence D cannot tell real from fake (D = 1/2, loss near 2 log 2); a loss near 0 "
                        "means the opposite."),
            "d": Option("the learning rate is too small",
                        "a loss near 0 says who is winning, not how fast either learns; too small a learning rate "
                        "shows as slow change of everything."),
        }),
    Question(
        id="03.detach",
        prompt="Why is the fake batch detached (fake.detach()) in the D step?",
        answer="a",
        why="D's update needs gradients for D only: detaching cuts the graph to G, so D's backward neither "
            "computes G's gradients nor frees the graph that G's own step needs.",
        options={
            "a": Option("so that D's loss does not backpropagate into G", ""),
            "b": Option("to make D stronger",
                        "D's gradients are the same with or without detach; detach only stops them from flowing on "
                        "into G."),
            "c": Option("BCEWithLogitsLoss requires it",
                        "the loss accepts any tensor; the reason is the graph behind the fakes, which belongs to G."),
            "d": Option("only to save memory: the results are the same either way",
                        "without it D's backward also fills G's gradients (and frees G's graph: 'backward through "
                        "the graph a second time' in the G step), notebook 05's bug 6."),
        }),
]
