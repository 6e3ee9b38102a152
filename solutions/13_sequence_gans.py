"""Reference solutions to the exercises of notebooks/13_sequence_gans.ipynb.

Each function has the name and signature of the notebook's stub; paste it over the stub (or
``%run ../solutions/13_sequence_gans.py`` in the notebook) and its check passes.
tests/test_exercises_nb13.py runs every one of them through its check in CI.
"""
import torch
import torch.nn.functional as F


def reinforce_loss(log_probs, rewards):
    """Exercise 1: SeqGAN's policy gradient (eqs. 7-8) as a loss: -(1/n) sum_i sum_t log G(y_t | Y_1:t-1) Q_t."""
    return -(log_probs * rewards.detach()).sum(dim=1).mean()     # rewards: constants; sum over t, mean over sequences


def gumbel_softmax_sample(logits, u, tau):
    """Exercise 2: the Gumbel-softmax sample softmax((logits + g) / tau) with g = -log(-log u)."""
    g = -torch.log(-torch.log(u))                                 # Gumbel(0, 1) noise from uniform noise
    return torch.softmax((logits + g) / tau, dim=-1)


def straight_through(y_soft):
    """Exercise 3: one-hot forward, the soft sample's gradient backward."""
    y_hard = F.one_hot(y_soft.argmax(dim=-1), y_soft.shape[-1]).to(y_soft.dtype)
    return y_hard - y_soft.detach() + y_soft                      # value: y_hard; gradient: that of y_soft
