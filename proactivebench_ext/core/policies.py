"""Reference policies played on the engine: an oracle and the expectation of a random answerer.

They define what the baseline models should score, so end-to-end runs can be checked against
numbers derived from the samples themselves rather than hard-coded.
"""

from __future__ import annotations

import dataclasses
from collections import deque

from .engine import Episode


def _frame_distance(episode: Episode) -> int:
    """How far the shown frame is from the reference frame (circular where frames wrap around)."""
    sample, image_id = episode.sample, episode.state.image_id
    gap = abs(image_id - sample.reference_image)
    return min(gap, sample.num_images - gap) if episode.scenario.frames_wrap_around else gap


def _answerable(episode: Episode) -> bool:
    return bool(episode.correct_now()[1])


def plan_requests(episode: Episode) -> list[str] | None:
    """Shortest sequence of accepted requests to the best state to answer in, within the step budget.

    The best state is the one closest to the reference frame (ROD, VSOD, CIT), or the one where
    no request is accepted any more (the view cannot improve: MVP-N, IN-C, QD, COCO). None when
    no state where the category is accepted can be reached.
    """
    frame_goal = episode.scenario.oracle_goal == "reference_frame"
    best: tuple[int, list[str]] | None = None
    queue: deque[tuple[Episode, list[str]]] = deque([(episode, [])])
    seen = {episode.state}
    while queue:
        current, path = queue.popleft()
        options, categories = current.correct_now()
        if categories and (frame_goal or not options):
            score = _frame_distance(current) if frame_goal else 0
            if best is None or score < best[0]:
                best = (score, path)
            if score == 0:
                break
        if current.state.num_turns + 1 >= current.sample.max_steps:
            continue
        for option in options:
            child = current.fork()
            child.answer(option)
            key = dataclasses.replace(child.state, num_turns=0) if frame_goal else child.state
            if child.done or key in seen:
                continue
            seen.add(key)
            queue.append((child, path + [option]))
    return None if best is None else best[1]


def oracle_answer(episode: Episode) -> str:
    """What an all-knowing model says now: the next request toward the goal, else the category."""
    if episode.reference:
        return episode.sample.answer
    plan = plan_requests(episode)
    if plan:
        return plan[0]
    options, categories = episode.correct_now()
    if categories or not options:
        return episode.sample.answer
    return options[0]  # ROD's first turn: a request is the only acceptable answer


def oracle_requests(episode: Episode) -> int:
    """How many requests the oracle makes on this episode (its psr contribution)."""
    twin = episode.fork()
    while not twin.done:
        twin.answer(oracle_answer(twin))
    return twin.state.num_turns - 1


def random_success_probability(episode: Episode) -> float:
    """Probability that answering a uniformly random shown option (by its text) each turn succeeds."""
    memo: dict[object, float] = {}

    def value(current: Episode) -> float:
        if current.state in memo:
            return memo[current.state]
        options = current.observe().options
        total = 0.0
        for option in options:
            child = current.fork()
            child.answer(option)
            total += float(child.correct_prediction) if child.done else value(child)
        memo[current.state] = total / len(options)
        return memo[current.state]

    return value(episode.fork())
