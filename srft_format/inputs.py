"""Each step's exact input (format 1.1): rebuild it from ``Step.input``, and store a recorded one compactly.

A step whose ``input`` is null saw ``messages[:output]``. Otherwise its input is the concatenation of its items:
each a run ``messages[start:stop]`` of the trajectory, or one inline message. Runs keep storage linear in the
trajectory's length; inline messages hold only what the trajectory does not (an elided observation, a summary).
"""

from __future__ import annotations

from collections.abc import Sequence

from .models import InputItem, Message, Step


def step_input(messages: Sequence[Message], step: Step) -> list[Message]:
    """The messages the model was sent for ``step``."""
    if step.input is None:
        return list(messages[:step.output])
    sent: list[Message] = []
    for item in step.input:
        if item.message is not None:
            sent.append(item.message)
        else:
            sent.extend(messages[item.start:item.stop])
    return sent


class MessageIndex:
    """Where each message of a trajectory stands, to store recorded inputs as runs of it (:meth:`input_items`);
    each message is serialised once, however many steps are looked up."""

    def __init__(self, messages: Sequence[Message]):
        self.at: dict[str, list[int]] = {}
        for i, message in enumerate(messages):
            self.at.setdefault(message.model_dump_json(), []).append(i)

    def input_items(self, recorded: Sequence[Message], output: int) -> list[InputItem] | None:
        """``Step.input`` for a recorded input: runs of the trajectory's messages before ``output`` where the
        recorded messages equal them, inline messages elsewhere; None when the input is ``messages[:output]``."""
        items: list[InputItem] = []
        previous = -1
        for message in recorded:
            found = self.at.get(message.model_dump_json(), ())
            index = previous + 1 if previous + 1 < output and previous + 1 in found else \
                next((i for i in found if previous < i < output), None)
            if index is None:
                items.append(InputItem(message=message))
                continue
            last = items[-1] if items else None
            if last is not None and last.message is None and last.stop == index:
                last.stop = index + 1
            else:
                items.append(InputItem(start=index, stop=index + 1))
            previous = index
        if not items and output == 0:
            return None
        if len(items) == 1 and items[0].message is None and (items[0].start, items[0].stop) == (0, output):
            return None
        return items


def input_items(messages: Sequence[Message], recorded: Sequence[Message], output: int) -> list[InputItem] | None:
    """:meth:`MessageIndex.input_items` for one step (index the messages once when there are several)."""
    return MessageIndex(messages).input_items(recorded, output)
