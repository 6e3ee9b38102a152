"""Concept checks of notebooks/06_evaluation.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="06.fd-1d",
        prompt="The Frechet distance between two 1-D Gaussians is (mu1 - mu2)^2 + (sigma1 - sigma2)^2. What is it "
               "between N(0, 1) and N(3, 2^2) (standard deviations 1 and 2)?",
        answer=10.0, tolerance=0.01,
        why="(0 - 3)^2 + (1 - 2)^2 = 9 + 1 = 10. FD is a squared distance (W2^2) and it sees the spread as well as "
            "the mean.",
        wrong=((18.0, "you used the variances: (1 - 4)^2 = 9; the formula uses standard deviations, (1 - 2)^2 = 1."),
               (10 ** 0.5, "FD is the *squared* 2-Wasserstein distance: no square root."),
               (9.0, "that is the mean term alone; the spread term (sigma1 - sigma2)^2 = 1 adds to it.")),
        otherwise="add (mu1 - mu2)^2 and (sigma1 - sigma2)^2 with mu = 0, 3 and sigma = 1, 2."),
    Question(
        id="06.fid-n",
        prompt="Model A: FID 12 computed with 50 000 samples. Model B: FID 15 computed with 5 000 samples "
               "(same features, same reference set). Which model is better?",
        answer="c",
        why="FD is biased upwards at small n by an amount that depends on the model [Chong2020]: B's value at "
            "50 000 samples could be below 12. Compare at the same n (or extrapolate to FD_infinity).",
        options={
            "a": Option("A: its FID is lower",
                        "the two numbers were measured at different n, and FD shrinks as n grows by a "
                        "model-dependent amount."),
            "b": Option("B",
                        "nothing here says B is better either: its FID is higher, but measured at smaller n."),
            "c": Option("cannot tell: measure both at the same n", ""),
            "d": Option("they are equal within noise",
                        "the difference is not noise but bias: FD at 5 000 samples is systematically higher than at "
                        "50 000."),
        }),
    Question(
        id="06.memorise",
        prompt="A generator has an excellent (very low) FID against the training set. Does that show it has not "
               "memorised the training images?",
        answer="b",
        why="a generator that outputs training images has almost the training set's statistics, so a near-perfect "
            "FID; no distance between distributions detects copying. Look at nearest training images.",
        options={
            "a": Option("yes: memorising would make FID worse",
                        "the opposite: copying the training set reproduces its feature statistics, so FID against "
                        "it is near its best."),
            "b": Option("no: copying the training set also gives an excellent FID", ""),
            "c": Option("yes, if FID was computed with Inception features",
                        "the features do not matter here: any distance between distributions rewards copying."),
            "d": Option("only if precision is also high",
                        "high precision is what copies have too: their images are as realistic as the data."),
        }),
    Question(
        id="06.inception-score",
        prompt="A 'generator' outputs 10 sharp images of different classes, repeated forever. Which metric can rate "
               "it better than the real data?",
        answer="a",
        why="the Inception Score never looks at the real data: confident, varied class predictions are all it "
            "rewards, and ten sharp images of ten classes give exactly that (section 9).",
        options={
            "a": Option("the Inception Score", ""),
            "b": Option("FID",
                        "FID compares with the real statistics: ten images have almost no spread, a large trace "
                        "term."),
            "c": Option("recall",
                        "recall measures coverage of the real data: ten images cover almost none of it."),
            "d": Option("KID",
                        "KID compares with the real data too (an MMD): ten repeated images are far from it."),
        }),
]
