"""Concept checks of notebooks/12_stylegan.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="12.demod",
        prompt="StyleGAN2's demodulation divides each output channel's weights by sqrt(sum_ik w'_ijk^2 + eps). "
               "Which statistics does it normalise by?",
        answer="c",
        why="the expected standard deviation of the output for unit-variance input, computed from the style and the "
            "weights alone (eq. 2 of Karras et al. 2020); the data never enter it, so a spike in a feature map "
            "cannot change how the rest of the map is scaled.",
        options={
            "a": Option("the mean and variance of each output channel over the batch, as batch normalisation",
                        "no batch statistics are involved: the formula holds only weights and the style, so each "
                        "sample is treated alone and the same way in training and at test time."),
            "b": Option("the mean and standard deviation of each feature map over its pixels, as AdaIN",
                        "that is instance normalisation (StyleGAN's AdaIN), measured on the data; demodulation "
                        "replaced it precisely because a spike in the data could then set a map's scale."),
            "c": Option("the expected output statistics, from the style and the weights alone", ""),
        }),
    Question(
        id="12.spike",
        prompt="A feature map of N pixels holds a smooth pattern of strength 1 and a spike of height 100 at one pixel. "
               "After instance normalisation, what happens to the pattern away from the spike as the spike grows?",
        answer="b",
        why="the map's standard deviation is about sqrt(1 + 100^2 / N): the spike dominates it, so dividing by it "
            "turns everything else down. The generator can set a map's strength with one spike: the droplet "
            "mechanism of Karras et al. 2020, Sec. 2.",
        options={
            "a": Option("nothing: instance normalisation removes the spike's influence",
                        "the spike enters the map's mean and standard deviation, which every pixel is divided by; "
                        "the larger the spike, the smaller the rest comes out."),
            "b": Option("it comes out weaker: the spike inflates the standard deviation the map is divided by", ""),
            "c": Option("it comes out stronger: the spike adds its height to every pixel",
                        "normalisation subtracts the mean and divides by the standard deviation; a spike raises the "
                        "standard deviation, which scales the rest *down*."),
        }),
    Question(
        id="12.psi",
        prompt="Truncation in W: w' = w_avg + psi (w - w_avg). A code w lies at distance 4 from w_avg. How far from "
               "w_avg is w' for psi = 0.7?",
        answer=2.8, tolerance=1e-6,
        why="w' - w_avg = psi (w - w_avg), so the distance is psi * 4 = 2.8: psi = 1 leaves w unchanged, psi = 0 "
            "moves every code onto w_avg.",
        wrong=((1.2, "1.2 = (1 - psi) * 4 is how far w *moved* towards w_avg, not how far w' is from it."),
               (4.0, "that is psi = 1 (no truncation); psi = 0.7 scales the offset w - w_avg by 0.7."),
               (0.7, "psi is the factor on the offset w - w_avg, not the distance itself: multiply it by 4.")),
        otherwise="w' - w_avg = psi (w - w_avg): multiply the distance by psi."),
    Question(
        id="12.ppl-compare",
        prompt="Suppose our style generator's PPL-classifier in W comes out at 30, and a paper reports a PPL of 200 for "
               "its StyleGAN trained on faces. What follows?",
        answer="c",
        why="PPL-classifier measures d with the squared distance of the course's classifier features, the paper's PPL "
            "with LPIPS (VGG16 features) on photographs of faces: different distances, data and resolution. Compare "
            "PPL-classifier numbers with each other only, e.g. Z against W within one generator.",
        options={
            "a": Option("our generator's latent space is smoother than the paper's",
                        "the two numbers use different perceptual distances d (classifier features vs LPIPS) on "
                        "different images; their scales have nothing to do with each other."),
            "b": Option("our generator is worse: a path length should be as large as the paper's",
                        "neither direction follows: the numbers are on different scales, so their sizes cannot be "
                        "compared at all."),
            "c": Option("nothing: the distances, data and resolution differ, so the numbers are not comparable", ""),
        }),
]
