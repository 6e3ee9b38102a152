"""Concept checks of notebooks/00_setup.ipynb (the machinery: gan_utils.exercises.concepts)."""
from . import Option, Question

QUESTIONS = [
    Question(
        id="00.range",
        prompt="The course serves images to the networks as float32 in which range?",
        answer="c",
        why="[-1, 1] is the range of the generator's tanh output: real and generated images live on the same scale, "
            "so D cannot tell them apart by their range alone.",
        options={
            "a": Option("[0, 255], as stored",
                        "uint8 values are only the storage; G's tanh can never output 255, so D would separate real "
                        "from fake by brightness alone."),
            "b": Option("[0, 1]",
                        "[0, 1] is the range for display (plots map back to it); G ends in tanh, whose range is "
                        "[-1, 1], so real images in [0, 1] would never use G's lower half."),
            "c": Option("[-1, 1]", ""),
            "d": Option("standardised to mean 0 and std 1 per channel",
                        "a standardised image is not bounded, while G's tanh is: some real pixels would lie where G "
                        "can never reach."),
        }),
    Question(
        id="00.pixel-255",
        prompt="A white pixel is stored as the uint8 value 255. Which float does the network see after the "
               "course's scaling x / 127.5 - 1?",
        answer=1.0, tolerance=1e-3,
        why="255 / 127.5 - 1 = 2 - 1 = 1, the top of tanh's range (and 0 becomes -1).",
        wrong=((1 / 255, "1/255 is what scaling twice produces (x / 255 and then / 255 again): every real image "
                         "becomes almost constant, D wins at once. Notebook 05 shows this bug."),
               (255.0, "that is the stored value, before scaling: the networks never see it."),
               (0.0, "0 would be mid-grey in tanh units; 255 is the brightest value, so it maps to the top of [-1, 1].")),
        otherwise="scale 255 with x / 127.5 - 1 and check: 0 maps to -1 and 255 to ..."),
    Question(
        id="00.reshuffle",
        prompt="Why does InMemoryLoader draw each epoch's order from (seed, epoch) instead of a running random state?",
        answer="b",
        why="the order of epoch e depends only on (seed, e), so a run resumed from a checkpoint sees exactly the "
            "batches the uninterrupted run would have seen: runs repeat and resume exactly.",
        options={
            "a": Option("it makes loading faster",
                        "the speed comes from keeping the whole dataset on the device and slicing batches; how the "
                        "order is drawn costs the same either way."),
            "b": Option("so a resumed run sees the same batches as an uninterrupted one", ""),
            "c": Option("it prevents mode collapse",
                        "mode collapse is a property of the game between G and D (notebook 02); any fair shuffling "
                        "shows D the same data."),
            "d": Option("torch.utils.data.DataLoader cannot shuffle",
                        "it can (shuffle=True); the point is *reproducible* order after a restart, which a running "
                        "random state loses when the process stops."),
        }),
]
