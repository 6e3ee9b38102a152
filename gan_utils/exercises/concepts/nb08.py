"""Concept checks of notebooks/08_full_training.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="08.protocol",
        prompt="Your run reports FID-10k against the training set; a paper reports FID-50k under its own protocol. "
               "Yours is lower. What can you conclude?",
        answer="c",
        why="a score is meaningful only with its protocol (features and weights, preprocessing, n, reference set, "
            "generator, implementation); with a different n and reference set the two numbers are not comparable.",
        options={
            "a": Option("the model is better than the paper's",
                        "FID depends on n (biased upwards at small n) and on the reference set: the two numbers "
                        "measure different things."),
            "b": Option("the paper's number is wrong",
                        "nothing says so: it was measured under another protocol."),
            "c": Option("nothing yet: the protocols differ", ""),
            "d": Option("the model is worse, since fewer samples give a lower FID",
                        "the bias goes the other way: fewer samples give a *higher* FID."),
        }),
    Question(
        id="08.per-minute",
        prompt="DCGAN and WGAN-GP reach similar scores after the same number of generator steps. Are they equally "
               "expensive?",
        answer="b",
        why="a WGAN-GP generator step comes with 5 critic updates, each with a gradient penalty (a double "
            "backward): compare per step and per minute of compute.",
        options={
            "a": Option("yes: same steps, same cost",
                        "a WGAN-GP step includes 5 critic updates with a gradient penalty; a DCGAN step one D update."),
            "b": Option("no: compare per unit of compute time too", ""),
            "c": Option("no: DCGAN is more expensive per step",
                        "DCGAN does one D update per G step; WGAN-GP does five, each with a double backward."),
        }),
    Question(
        id="08.resume",
        prompt="What makes it safe to interrupt a long run at any moment and resume it?",
        answer="a",
        why="checkpoints and the log are written atomically (a temporary file, then a rename), and the log last: "
            "any interruption leaves either the old or the new complete state, never half of one.",
        options={
            "a": Option("atomic writes of checkpoints and log, the log written last", ""),
            "b": Option("saving a checkpoint every step",
                        "frequency limits how much work is lost, not whether a half-written file is left behind."),
            "c": Option("a fixed random seed",
                        "a seed makes a run repeatable from its start; resuming needs the saved state, intact."),
            "d": Option("keeping everything in GPU memory",
                        "GPU memory is lost with the session: only files survive a disconnect."),
        }),
]
