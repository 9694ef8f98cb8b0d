"""The one error the node's Python shows to the artist: a knob or input and what is wrong with it."""


class NodeError(Exception):
    """A problem the artist can fix on the node: ``subject`` names the knob or input."""

    def __init__(self, subject: str, problem: str) -> None:
        self.subject = subject
        self.problem = problem
        super().__init__(f"{subject}: {problem}")
