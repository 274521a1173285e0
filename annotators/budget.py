"""A hard spending limit for critic calls: a request is sent only if its worst case still fits.

Each request reserves its worst-case cost (estimated prompt tokens at ``price_in`` plus ``max_tokens`` at
``price_out``) before it is sent and settles to the real usage after, so the spent cost can never pass
``max_cost``, even with many requests in flight. Prices are US dollars per million tokens. Retries of one
request count once; cached answers are free.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import StopRun


class BudgetExhausted(StopRun):
    pass


@dataclass
class Budget:
    max_requests: int | None = None
    max_cost: float | None = None
    price_in: float = 0.0
    price_out: float = 0.0
    requests: int = 0
    cost: float = 0.0
    reserved: float = 0.0

    def price(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.price_in + completion_tokens * self.price_out) / 1e6

    def reserve(self, prompt_tokens: int, max_completion_tokens: int) -> float:
        """Count one request and hold its worst-case cost; raises :class:`BudgetExhausted` when it does not fit."""
        if self.max_requests is not None and self.requests >= self.max_requests:
            raise BudgetExhausted(f"request budget spent ({self.max_requests} requests)")
        worst = self.price(prompt_tokens, max_completion_tokens)
        if self.max_cost is not None and self.cost + self.reserved + worst > self.max_cost:
            raise BudgetExhausted(f"cost budget spent (${self.cost:.4f} of ${self.max_cost:.4f}, "
                                  f"next request could cost ${worst:.4f})")
        self.requests += 1
        self.reserved += worst
        return worst

    def settle(self, reservation: float, prompt_tokens: int, completion_tokens: int) -> None:
        self.reserved -= reservation
        self.cost += self.price(prompt_tokens, completion_tokens)
