"""Concept checks of notebooks/14_improved_techniques.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="14.two-sided",
        prompt="D is trained with label smoothing on both sides: target 0.9 for real images and 0.1 for generated "
               "ones. At a point x where there is no data (p_data(x) = 0) but G puts mass (p_g(x) > 0), what is the "
               "optimal D*(x)?",
        answer=0.1, tolerance=1e-3,
        why="D*(x) = (0.9 p_data + 0.1 p_g) / (p_data + p_g) = 0.1 there: D cannot push its output on these fakes "
            "below the fake target, so they are not pushed towards the data. That is why the paper smooths only "
            "the real side.",
        wrong=((0.0, "0 is D* with one-sided smoothing (fake target 0); with a fake target of 0.1 the smoothed "
                     "target is what D* goes to where only fakes are."),
               (0.9, "0.9 is D* where only real data is (p_g = 0); here only fakes are."),
               (0.5, "1/2 is D* where p_data = p_g with unsmoothed targets; here p_data = 0.")),
        otherwise="put p_data = 0 into D*(x) = (alpha p_data + beta p_g) / (p_data + p_g) with alpha = 0.9, "
                  "beta = 0.1."),
    Question(
        id="14.collapsed-batch",
        prompt="Minibatch discrimination: o(x_i)_b = sum_j exp(-||M_{i,b} - M_{j,b}||_1), j over the whole batch, "
               "i included. What is o(x_i)_b for a batch of 8 identical samples?",
        answer=8.0, tolerance=1e-6,
        why="all M_j are equal, so every term is exp(0) = 1 and the 8 terms sum to 8 in every column; a spread-out "
            "batch scores about 1 (only j = i is close). D can read the collapse off this feature.",
        wrong=((1.0, "1 is what a spread-out batch scores (only the term j = i is near 1); identical samples make "
                     "every term 1."),
               (7.0, "7 leaves out j = i, as the authors' code does; the paper's sum (and this question's) includes "
                     "it."),
               (0.0, "the distances are 0, so each term is exp(-0) = 1, not 0.")),
        otherwise="every one of the 8 terms is exp(-||M_{i,b} - M_{j,b}||_1) with a distance of 0."),
    Question(
        id="14.feature-matching",
        prompt="With feature matching (Salimans et al. 2016, section 3.1), what does the generator's loss compare?",
        answer="b",
        why="G matches the batch mean of an intermediate layer f of D: ||E f(x) - E f(G(z))||^2. The fakes are "
            "not paired with real images, and the loss replaces G's usual GAN loss.",
        options={
            "a": Option("each generated image's features with those of the real image it was made for",
                        "that is pix2pixHD's feature matching (paired, per sample, added to the GAN loss); here G(z) "
                        "has no paired real image."),
            "b": Option("the mean of D's intermediate features over a real batch and over a generated batch", ""),
            "c": Option("D's output on real images with D's output on generated images",
                        "comparing D's final scores is the usual GAN loss; feature matching uses a hidden layer's "
                        "statistics instead."),
            "d": Option("the pixels of generated images with the nearest training images",
                        "no pixel distances are involved: the statistics are D's features, chosen by D's training."),
        }),
    Question(
        id="14.k-plus-1",
        prompt="The semi-supervised GAN's discriminator has K class logits l_1..l_K and fixes the logit of class K+1 "
               "('generated') at 0. With Z(x) = sum_k exp l_k(x), what is D(x), the probability that x is real?",
        answer="a",
        why="p(K+1 | x) = exp(0) / (Z(x) + exp(0)) = 1 / (Z(x) + 1), so D(x) = 1 - p(K+1 | x) = Z(x) / (Z(x) + 1) "
            "= sigmoid(logsumexp of the K logits).",
        options={
            "a": Option("Z(x) / (Z(x) + 1)", ""),
            "b": Option("1 / (Z(x) + 1)",
                        "that is p(y = K+1 | x), the probability of 'generated'; D is one minus it."),
            "c": Option("the largest softmax probability over the K classes",
                        "a confident class is not the same as 'real': the K+1-way softmax puts the rest of the mass "
                        "on class K+1, whose logit is 0."),
            "d": Option("sigmoid of the largest logit",
                        "D sums over all K classes (logsumexp), not only the largest: every class is evidence of a "
                        "real image."),
        }),
]
