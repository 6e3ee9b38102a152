"""Concept checks of notebooks/13_sequence_gans.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="13.no-gradient",
        prompt="An image GAN backpropagates D's score through G's output into G's weights. Why can a text generator "
               "not do the same through a sampled token?",
        answer="b",
        why="a token is a choice: small changes of the logits leave the sampled (or argmax) token unchanged until it "
            "jumps to another one, so the token has no useful derivative with respect to the logits.",
        options={
            "a": Option("an LSTM cannot be differentiated through time",
                        "backpropagation through time differentiates LSTMs every day; MLE training does exactly that."),
            "b": Option("the sampled token is a discrete choice: it does not move smoothly with the logits", ""),
            "c": Option("D's score is not differentiable with respect to its input",
                        "D is a network like any other; the break is between G's logits and the token it emits."),
        }),
    Question(
        id="13.estimators",
        prompt="Section 1 compares gradient estimators for a sampled token. Which one is unbiased?",
        answer="a",
        why="REINFORCE's E[r(y) grad log p(y)] equals the exact gradient of the expected reward (a baseline keeps it "
            "unbiased); it pays in variance. Gumbel-softmax replaces the token by a relaxed one and is biased at "
            "any temperature above zero, straight-through included.",
        options={
            "a": Option("REINFORCE (score function), with or without a baseline", ""),
            "b": Option("Gumbel-softmax at a low temperature",
                        "lower temperature shrinks the bias but raises the variance; at any tau > 0 it is still biased."),
            "c": Option("straight-through Gumbel-softmax",
                        "the forward pass uses the hard token but the backward pass the soft one's gradient: biased."),
        }),
    Question(
        id="13.rollouts",
        prompt="SeqGAN's D scores whole sequences only. How does SeqGAN give a reward to the t-th token of a "
               "sequence of length T > t?",
        answer="c",
        why="Monte Carlo search: G completes the prefix Y_1:t N times, D scores the N complete sequences, and the "
            "average is the reward Q of the t-th token (eq. 4); at t = T, D's score of the sequence itself.",
        options={
            "a": Option("D scores the prefix Y_1:t directly",
                        "D is trained on complete sequences only; a prefix is outside what it learned to judge."),
            "b": Option("every token gets D's score of the finished sequence",
                        "that is REINFORCE with one reward per sequence; SeqGAN's rollouts give each step its own "
                        "estimate of what the prefix leads to."),
            "c": Option("G completes the prefix several times and D's scores of the completions are averaged", ""),
        }),
    Question(
        id="13.exposure",
        prompt="Section 4 measures exposure bias on the oracle. Which pair of numbers does it compare?",
        answer="b",
        why="teacher forcing trains (and scores) every next token on a true prefix; sampling conditions on the "
            "model's own earlier tokens. The difference of the oracle's per-token error between the two is what "
            "reading its own prefixes adds.",
        options={
            "a": Option("NLL-test of the model before and after GAN training",
                        "that measures what GAN training changed, not the mismatch between training and sampling."),
            "b": Option("the model's per-token error on true prefixes (teacher forcing) against its error on its "
                        "own sampled prefixes (free running)", ""),
            "c": Option("NLL-oracle at temperature 1 against NLL-oracle at a lower temperature",
                        "that is the quality-diversity trade-off of section 5; it exists without any exposure bias."),
        }),
    Question(
        id="13.what-seqgan",
        prompt="What does SeqGAN [Yu2017] generate?",
        answer="a",
        why="sequences of discrete tokens: the synthetic oracle's, Chinese quatrains, Obama's political speeches, and "
            "music as sequences of piano-key numbers. No pixels, no frames.",
        options={
            "a": Option("sequences of discrete tokens (text and symbolic music)", ""),
            "b": Option("video, frame by frame",
                        "a common mix-up in write-ups; SeqGAN's generator is an LSTM over a vocabulary of tokens."),
            "c": Option("audio waveforms",
                        "its music experiment uses folk tunes as sequences of 88 piano-key numbers, not sound."),
        }),
]
