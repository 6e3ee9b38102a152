"""Concept checks of notebooks/05_debugging_lab.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="05.both-losses-zero",
        prompt="Both losses fall towards 0 and the samples stay noise. Which bug fits best?",
        answer="a",
        why="with the fake label in G's loss, G is trained to make D call its samples fake: D and G agree, both "
            "losses go to 0 and nothing is learned. Label the fakes *real* in G's loss.",
        options={
            "a": Option("G's loss uses the fake label (target 0) for its samples", ""),
            "b": Option("the fakes are not detached in the D step",
                        "that bug shows as an error ('backward through the graph a second time') or as gradients "
                        "in G after D's step, not as two losses at 0."),
            "c": Option("Adam's beta1 is 0.9",
                        "that widens the oscillations; it does not make G and D agree."),
            "d": Option("the data is in [-1, 1]",
                        "[-1, 1] is the right range (notebook 00)."),
        }),
    Question(
        id="05.grey-samples",
        prompt="D's output jumps to 1 on real and 0 on fake images within a few steps, and the samples are flat "
               "grey. Which bug fits best?",
        answer="c",
        why="data scaled twice lands in [0, 1/255]: every real image is almost the constant 0 (mid-grey in tanh "
            "units), trivially told apart from any fake. Scale once: x / 127.5 - 1.",
        options={
            "a": Option("the generator has no BatchNorm",
                        "that changes how G trains, not what the real images look like to D."),
            "b": Option("D uses LeakyReLU",
                        "LeakyReLU is DCGAN's recommended activation for D."),
            "c": Option("the real images were scaled twice", ""),
            "d": Option("the learning rate is too low",
                        "a low learning rate makes everything slow; here D wins within a few steps."),
        }),
    Question(
        id="05.sigmoid-bce",
        prompt="D ends in Sigmoid and is trained with BCELoss; once D is confident, the loss sits at 100 and G's "
               "gradient is 0. Why?",
        answer="b",
        why="in float32 the sigmoid rounds to exactly 0 or 1 for large logits; BCELoss clamps log(0) to -100, so "
            "the loss is stuck at 100 with no gradient. Logits and BCEWithLogitsLoss compute the same loss stably.",
        options={
            "a": Option("the learning rate is too high",
                        "the stuck value and the zero gradient appear at any learning rate once the logits are large."),
            "b": Option("the sigmoid saturates in float32 and BCELoss clamps the log at -100", ""),
            "c": Option("BCELoss is the wrong loss for GANs",
                        "it is the right loss; computed from probabilities instead of logits it loses precision."),
            "d": Option("D has too few parameters",
                        "it is confident, so it is strong enough; the problem is numerical."),
        }),
    Question(
        id="05.bn-gp",
        prompt="Why is BatchNorm wrong in a WGAN-GP critic?",
        answer="d",
        why="the gradient penalty is defined per sample, on the gradient of f(x_i) with respect to x_i; BatchNorm "
            "makes each output depend on the whole batch, so that gradient mixes the samples. Use LayerNorm or none.",
        options={
            "a": Option("it makes training slower",
                        "speed is not the issue: the penalty it produces is the wrong quantity."),
            "b": Option("it is fine: WGAN-GP critics use BatchNorm",
                        "[Gulrajani2017] leave BatchNorm out of the critic for this reason."),
            "c": Option("it makes the critic non-differentiable",
                        "BatchNorm is differentiable; it couples the samples."),
            "d": Option("it couples the samples of a batch, so the per-sample gradient is no longer per sample", ""),
        }),
]
