"""Concept checks of notebooks/11_image_to_image.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="11.l1-blur",
        prompt="pix2pix trains its generator with an L1 term AND a PatchGAN discriminator. Why not the L1 term alone?",
        answer="b",
        why="where the input leaves the output uncertain (an outline does not say how bright the garment is), the "
            "per-pixel loss is minimised by the median of the possible values: a blur. L1 gets the low frequencies "
            "(where, what shape, how bright overall) right; the PatchGAN, which judges local patches, asks for sharp "
            "high-frequency structure.",
        options={
            "a": Option("L1 alone cannot learn where the garment is",
                        "the layout and overall brightness are exactly what L1 does learn (the low frequencies); what "
                        "it cannot do is choose one sharp answer among many plausible ones."),
            "b": Option("L1 alone averages the plausible outputs into a blur; D asks for sharp local structure", ""),
            "c": Option("the discriminator makes training faster",
                        "a GAN term costs a second network and its updates per step; it is there for what the outputs "
                        "look like, not for speed."),
            "d": Option("L1 alone would ignore the input",
                        "L1 compares the output with the true output of THIS input, so it cannot ignore the input; "
                        "an unconditional D could, which is why pix2pix's D sees the input too."),
        }),
    Question(
        id="11.patch-rf",
        prompt="A PatchGAN has five 4x4 convolutions with strides 2, 2, 2, 1, 1 (pix2pix's default discriminator). "
               "How many input pixels wide is the patch one output logit sees?",
        answer=70.0, tolerance=0.5,
        why="r = 1 + sum over layers of (k - 1) x (product of the strides BEFORE that layer) = 1 + 3 x (1 + 2 + 4 + 8 "
            "+ 8) = 70: the '70x70 PatchGAN'. Section 1 checks the formula against the gradient of one logit.",
        wrong=((16.0, "1 + 5 x 3 = 16 ignores the strides: a layer after a stride-2 layer steps 2 input pixels per "
                      "output pixel, so its kernel spans more of the input."),
               (91.0, "1 + 3 x (2 + 4 + 8 + 8 + 8) = 91 multiplies each layer's own stride in; a layer's step on the "
                      "input is the product of the strides of the layers before it."),
               (20.0, "5 x 4 = 20 adds the kernel sizes; neighbouring positions overlap by k - 1 pixels, and "
                      "strides spread the later layers' kernels out.")),
        otherwise="use r = 1 + sum_l (k_l - 1) j_l with j_l the product of the strides of the layers before layer l."),
    Question(
        id="11.cycle-small",
        prompt="A CycleGAN's cycle error a -> b -> a is tiny on test images. What does that show?",
        answer="c",
        why="the cycle only asks that G_BA can undo G_AB. When one domain holds less information than the other, "
            "G_AB can keep a private, faint copy of its input in its output that G_BA reads back (Chu et al. 2017); "
            "section 4 measured how much the generated edge maps carry beyond an edge map's content.",
        options={
            "a": Option("that G_AB(a) is the right image of domain B for a",
                        "a translation can be undone and still be wrong: any invertible mapping the discriminators "
                        "accept has the same cycle error, and the output can hide what the way back needs."),
            "b": Option("that the discriminators have lost the game",
                        "the cycle terms say nothing about the discriminators; they measure only the round trip."),
            "c": Option("only that G_BA can undo G_AB, possibly through information hidden in G_AB(a)", ""),
            "d": Option("that the model is overfitting its training images",
                        "it was measured on test images; a small round-trip error there is generalisation of the "
                        "round trip, not memorisation."),
        }),
    Question(
        id="11.pool",
        prompt="CycleGAN's ImagePool(50) is full. A batch of 16 new fakes comes in. On average, how many of the 16 "
               "images the discriminator then sees are older fakes from the pool?",
        answer=8.0, tolerance=0.5,
        why="once full, each new fake is, independently with probability 1/2, swapped for a stored one: 16 x 1/2 = 8 "
            "on average (the rest are the new fakes themselves). D fights the generator's recent past as well as its "
            "present [Shrivastava et al. 2017].",
        wrong=((16.0, "not every fake is swapped: each one is, with probability 1/2, so D still sees about half of "
                      "the newest fakes."),
               (0.0, "that is the pool while it fills (or ImagePool(0)): once full it swaps each fake with "
                     "probability 1/2."),
               (50.0, "50 is the pool's capacity, not what comes out: the pool returns as many images as it is "
                      "given, 16.")),
        otherwise="each of the 16 is swapped with probability 1/2, independently: the expected count is 16 x 1/2."),
]
