"""Concept checks of notebooks/07_wgan.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="07.lipschitz-k",
        prompt="A critic f is K-Lipschitz (not 1-Lipschitz). What does the best such critic's objective "
               "E_p f - E_q f estimate?",
        answer="b",
        why="scaling a 1-Lipschitz f by K scales the objective by K, so the supremum over K-Lipschitz critics is "
            "K * W1: the critic's number is W1 only up to that factor.",
        options={
            "a": Option("W1 itself",
                        "only for K = 1; a K-Lipschitz critic can stretch the 1-Lipschitz optimum by K."),
            "b": Option("K times W1", ""),
            "c": Option("the Jensen-Shannon divergence",
                        "the JSD needs a discriminator of probabilities (notebook 01); a Lipschitz critic gives the "
                        "Kantorovich-Rubinstein form of W1."),
            "d": Option("nothing meaningful",
                        "it is meaningful, K * W1, which is why a critic whose K is kept fixed gives a usable "
                        "training signal."),
        }),
    Question(
        id="07.gp-where",
        prompt="Where does WGAN-GP evaluate its gradient penalty?",
        answer="c",
        why="at points x_hat = eps * real + (1 - eps) * fake with one eps ~ U[0, 1] per sample: on straight lines "
            "between real and fake samples, where the optimal critic has gradient norm 1 [Gulrajani2017].",
        options={
            "a": Option("on the real samples only",
                        "a penalty on real samples is R1 (notebook 10), a different regulariser with another target "
                        "(gradient 0, not norm 1)."),
            "b": Option("on the fake samples only",
                        "the penalty's points lie between real and fake samples, not on the fakes."),
            "c": Option("on random points between paired real and fake samples, one mixing weight per sample", ""),
            "d": Option("on points mixed pixel by pixel with a random weight per pixel",
                        "a per-pixel weight mixes the two images pixel by pixel: the points leave the lines between "
                        "samples (notebook 05's bug 11)."),
        }),
    Question(
        id="07.clip-when",
        prompt="WGAN with weight clipping: when are the critic's weights clipped to [-c, c]?",
        answer="a",
        why="after each optimiser step: the critic is used right after its update to compute the next loss, so the "
            "constraint must hold on the updated weights (notebook 05's bug 12 clips before the step).",
        options={
            "a": Option("after each optimiser step", ""),
            "b": Option("before each optimiser step",
                        "the step then moves the weights outside [-c, c] and the critic is used unconstrained."),
            "c": Option("once, at initialisation",
                        "the optimiser moves the weights every step; the constraint has to be restored every step."),
            "d": Option("only on the last layer",
                        "every layer's weights are clipped; one unbounded layer makes the critic unbounded."),
        }),
    Question(
        id="07.sn-conv",
        prompt="Spectral normalisation divides each layer's weight by its largest singular value (for a "
               "convolution: of the kernel reshaped to a matrix). Is each convolution then exactly 1-Lipschitz?",
        answer="b",
        why="no: the convolution applies the kernel at many overlapping positions, and its operator norm can "
            "exceed that of the reshaped kernel matrix; notebook 07 measures this on its critics.",
        options={
            "a": Option("yes, exactly",
                        "that holds for a dense layer; a convolution is a larger linear map than its reshaped kernel."),
            "b": Option("not exactly: it bounds the reshaped kernel, not the convolution itself", ""),
            "c": Option("no: spectral normalisation does not constrain the network at all",
                        "it does constrain it, every kernel matrix has norm 1; it is the bound on convolutions that "
                        "is loose."),
        }),
]
