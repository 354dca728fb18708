"""Checkers of the chapter "From a language model to an assistant: SFT and DPO"
(notebooks/43_assistants)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from companion.course.core import Case, Score, case_generator, compare, hidden_generator, run_cases
from companion.course.registry import Chapter
from companion.preference import dpo_loss

CHAPTER = Chapter(43, "assistants")  # notebooks/43_assistants.ipynb

DPO_ATOL = 1e-5  # float64 inputs: any right formula agrees far closer than this


def _logps(g: torch.Generator, batch: int, scale: float) -> list[Tensor]:
    """Four ``(batch,)`` float64 log-probabilities (negative), like summed response log-probs."""
    return [-scale * torch.rand(batch, generator=g, dtype=torch.float64) for _ in range(4)]


@CHAPTER.exercise(
    "ex-assistants-dpo-loss",
    title="Implement the DPO loss",
    difficulty="medium",
    names=("my_dpo_loss",),
    references=("companion.preference.dpo_loss",),
)
def check_dpo_loss(fn: Callable, *, verbose: bool = True) -> Score:
    """ex-assistants-dpo-loss: ``dpo_loss(policy_chosen_logps, policy_rejected_logps,
    ref_chosen_logps, ref_rejected_logps, beta)`` -> ``(loss, chosen_rewards, rejected_rewards)``.

    The four log-probabilities are ``(batch,)`` float tensors (summed over each response's tokens);
    ``loss`` is a scalar, ``-mean log sigmoid(r_w - r_l)``; the rewards are ``(batch,)``:
    ``r = beta * (log pi_theta - log pi_ref)`` of the chosen and of the rejected responses.
    """

    def case(logps: list[Tensor], beta: float) -> Callable[[], str | None]:
        want = dpo_loss(*(t.clone() for t in logps), beta)  # before the learner sees the inputs

        def run() -> str | None:
            got = fn(*(t.clone() for t in logps), beta)
            if not isinstance(got, tuple | list) or len(got) != 3:
                return "must return a tuple (loss, chosen_rewards, rejected_rewards)"
            for name, g, w in zip(
                ("loss", "chosen_rewards", "rejected_rewards"), got, want, strict=True
            ):
                problem = compare(g, w, name, DPO_ATOL)
                if problem:
                    return problem
            return None

        return run

    def random_case(i: int, batch: int, beta: float, scale: float = 20.0) -> list[Tensor]:
        return _logps(case_generator(i), batch, scale)

    same = random_case(3, 5, 0.1)
    huge = [  # margins of +-1500 nats: log(sigmoid(m)) underflows to log 0 = -inf
        torch.tensor([-1.0, -2000.0, -3.0], dtype=torch.float64),
        torch.tensor([-1500.0, -1.0, -3.0], dtype=torch.float64),
        torch.zeros(3, dtype=torch.float64),
        torch.zeros(3, dtype=torch.float64),
    ]
    cases: list[Case] = [
        ("batch 4, beta 0.1", case(random_case(1, 4, 0.1), 0.1)),
        ("batch 1, beta 1.0", case(random_case(2, 1, 1.0), 1.0)),
        ("the policy equals the reference", case([same[0], same[1], same[0], same[1]], 0.1)),
        ("batch 16, beta 0.5", case(random_case(4, 16, 0.5), 0.5)),
        ("huge margins, beta 1.0 (numerical stability)", case(huge, 1.0)),
        (
            "float32 inputs, batch 8, beta 0.2",
            case([t.float() for t in random_case(6, 8, 0.2)], 0.2),
        ),
    ]
    if (g := hidden_generator()) is not None:  # grading with the instructor's seed
        batch = int(torch.randint(1, 33, (1,), generator=g))
        beta = float(torch.empty(1, dtype=torch.float64).uniform_(0.01, 2.0, generator=g))
        cases.append((f"batch {batch}, beta {beta:.3f}", case(_logps(g, batch, 50.0), beta)))
    return run_cases("ex-assistants-dpo-loss", cases, verbose)


# The chapter's other exercises: pen and paper, predict-then-measure, change the model.
CHAPTER.other_exercise("ex-assistants-by-hand", title="DPO by hand", difficulty="easy")
CHAPTER.other_exercise(
    "ex-assistants-beta", title="Predict, then measure: the strength beta", difficulty="medium"
)
CHAPTER.other_exercise(
    "ex-assistants-no-pretraining", title="Change the model: no pre-training", difficulty="hard"
)
