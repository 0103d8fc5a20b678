"""Prompt editing and alternation, as AUTOMATIC1111 defines them: the prompt changes while it
is sampled.

  [from:to:when]   "from" until step `when`, then "to"
  [to:when]        nothing until step `when`, then "to"
  [from::when]     "from" until step `when`, then nothing
  [a|b|c]          a different option every step (a, b, c, a, ...)
`when` is a step count (3) or, written with a point, a fraction of the steps (0.3, .5).
Brackets that are none of these stay in the text for the weight syntax (prompts.py): [word]
lowers a weight, (word:1.2) raises one; an unclosed bracket is text.

`schedule(text, steps)` is A1111's get_learned_conditioning_prompt_schedules for one prompt:
[(end_at_step, text), ...], and step i (0-based) is conditioned on the first entry whose
end_at_step >= i, as A1111's reconstruct_cond_batch picks it. Each distinct text is encoded
once per generation, so editing costs no encoder pass per step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$")
_SPECIAL = set("\\[]():|")


@dataclass
class _Text:
    text: str


@dataclass
class _Group:  # ( ... ) or [ ... ] kept as written around what is inside
    open: str
    children: list[_Node]
    close: str


@dataclass
class _Scheduled:
    before: list[_Node]
    after: list[_Node]
    when: str


@dataclass
class _Alternate:
    options: list[list[_Node]] = field(default_factory=list)


_Node = _Text | _Group | _Scheduled | _Alternate


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text

    def seq(self, i: int, stops: str) -> tuple[list[_Node], int]:
        """Nodes from i up to (not including) a character in `stops`, or the end."""
        out: list[_Node] = []
        buf: list[str] = []

        def flush() -> None:
            if buf:
                out.append(_Text("".join(buf)))
                buf.clear()

        s = self.s
        while i < len(s):
            c = s[i]
            if c in stops:
                break
            if c == "\\" and i + 1 < len(s):
                buf.append(s[i : i + 2])  # escapes stay for the weight parser
                i += 2
            elif c == "(":
                inner, j = self.seq(i + 1, ")")
                if j < len(s) and s[j] == ")":
                    flush()
                    out.append(_Group("(", inner, ")"))
                    i = j + 1
                else:
                    buf.append(c)  # unclosed: text
                    i += 1
            elif c == "[":
                node, j = self.bracket(i)
                if node is None:
                    buf.append(c)
                    i += 1
                else:
                    flush()
                    out.append(node)
                    i = j
            else:
                buf.append(c)
                i += 1
        flush()
        return out, i

    def bracket(self, i: int) -> tuple[_Node | None, int]:
        """The bracket at i: scheduled, alternate or a plain [group]; None if unclosed."""
        s = self.s
        parts: list[list[_Node]] = []
        raw: list[tuple[int, int]] = []  # each part's span in s
        seps: list[str] = []
        j = i + 1
        while True:
            start = j
            nodes, j = self.seq(j, "]:|")
            parts.append(nodes)
            raw.append((start, j))
            if j >= len(s):
                return None, i
            if s[j] == "]":
                break
            seps.append(s[j])
            j += 1
        end = j + 1
        if seps and all(sep == "|" for sep in seps):
            return _Alternate(parts), end
        if seps and all(sep == ":" for sep in seps) and len(parts) in (2, 3):
            when = s[raw[-1][0] : raw[-1][1]]
            if _NUMBER.match(when):
                if len(parts) == 2:
                    return _Scheduled([], parts[0], when.strip()), end
                return _Scheduled(parts[0], parts[1], when.strip()), end
        # a [group] for the weight syntax: separators back as text
        children: list[_Node] = []
        for k, nodes in enumerate(parts):
            children.extend(nodes)
            if k < len(seps):
                children.append(_Text(seps[k]))
        return _Group("[", children, "]"), end


def _parse(text: str) -> list[_Node]:
    parser = _Parser(text)
    nodes: list[_Node] = []
    i = 0
    while i < len(text):
        more, i = parser.seq(i, "])|:")
        nodes.extend(more)
        if i < len(text):  # a stray closer or separator at the top: text
            nodes.append(_Text(text[i]))
            i += 1
    return nodes


def _when(value: str, steps: int) -> int:
    v = float(value)
    if "." in value:
        v = v * steps
    return min(steps, int(v))


def _steps(nodes: list[_Node], steps: int, out: set[int]) -> None:
    for n in nodes:
        if isinstance(n, _Group):
            _steps(n.children, steps, out)
        elif isinstance(n, _Scheduled):
            w = _when(n.when, steps)
            if w >= 1:
                out.add(w)
            _steps(n.before, steps, out)
            _steps(n.after, steps, out)
        elif isinstance(n, _Alternate):
            out.update(range(1, steps + 1))
            for option in n.options:
                _steps(option, steps, out)


def _render(nodes: list[_Node], step: int, steps: int) -> str:
    out = []
    for n in nodes:
        if isinstance(n, _Text):
            out.append(n.text)
        elif isinstance(n, _Group):
            out.append(n.open + _render(n.children, step, steps) + n.close)
        elif isinstance(n, _Scheduled):
            chosen = n.before if step <= _when(n.when, steps) else n.after
            out.append(_render(chosen, step, steps))
        else:
            out.append(_render(n.options[(step - 1) % len(n.options)], step, steps))
    return "".join(out)


def schedule(text: str, steps: int) -> list[tuple[int, str]]:
    """[(end_at_step, prompt text)] for a prompt sampled in `steps` steps (A1111's rules)."""
    nodes = _parse(text)
    at: set[int] = {steps}
    _steps(nodes, steps, at)
    return [(t, _render(nodes, t, steps)) for t in sorted(at)]


def is_scheduled(text: str) -> bool:
    """Whether the prompt changes during sampling (editing or alternation)."""
    return any(isinstance(n, _Scheduled | _Alternate) or isinstance(n, _Group) and _has(n)
               for n in _parse(text))  # fmt: skip


def _has(group: _Group) -> bool:
    return any(isinstance(n, _Scheduled | _Alternate) or isinstance(n, _Group) and _has(n)
               for n in group.children)  # fmt: skip


def active(entries: list[tuple[int, str]], step: int) -> int:
    """Which entry conditions 0-based step `step`: the first ending at or after it."""
    for k, (end, _) in enumerate(entries):
        if step <= end:
            return k
    return len(entries) - 1


__all__ = ["active", "is_scheduled", "schedule"]
